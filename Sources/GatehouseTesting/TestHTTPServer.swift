import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A request as a test upstream received it.
public struct RecordedRequest: Sendable {
    public var method: HTTPMethod
    public var uri: String
    public var headers: HTTPHeaders
    /// The body, kept only up to ``TestHTTPServer/maxRecordedBody`` bytes.
    public var body: [UInt8]
    /// Every body byte counted, recorded or not.
    public var bodyBytes: Int
    /// Body bytes that differ from ``TestHTTPServer/expectedBodyByte`` (when one is set).
    public var unexpectedBodyBytes: Int = 0

    public var path: String { String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]) }
    public var query: String? {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count == 2 ? String(parts[1]) : nil
    }
    public func values(_ name: String) -> [String] { headers[name] }
}

/// What a test upstream answers.
public indirect enum TestResponse: Sendable {
    /// A complete response with `Content-Length`. The server closes the connection after
    /// it only when the request asked for that; a `Connection: close` among `headers` is
    /// sent but the socket left open (so a client that reuses it anyway is caught).
    case fixed(status: HTTPResponseStatus = .ok, headers: [(String, String)] = [], body: String)
    /// `count` bytes of `byte`, chunked, written as the client reads (backpressure-aware).
    case stream(status: HTTPResponseStatus = .ok, count: Int, chunkSize: Int = 64 * 1024, byte: UInt8 = UInt8(ascii: "x"))
    /// Raw body bytes (e.g. gzip) with `Content-Length`, otherwise like ``fixed(status:headers:body:)``.
    case bytes(status: HTTPResponseStatus = .ok, headers: [(String, String)] = [], body: [UInt8])
    /// The body as these chunks, `Transfer-Encoding: chunked`, one flush each.
    case chunked(status: HTTPResponseStatus = .ok, headers: [(String, String)] = [], chunks: [[UInt8]])
    /// Never answers (for response timeouts).
    case hang
    /// A head declaring `declared` body bytes (`Content-Length`), `sent` of them, then
    /// nothing more on a connection left open: an upstream stuck mid-response.
    case partial(declared: Int, sent: Int, byte: UInt8 = UInt8(ascii: "x"))
    /// A head with `headers` declaring `declared` body bytes, the first bytes `body`, then
    /// nothing more — the connection left open, or closed when `thenClose`.
    case partialBody(headers: [(String, String)] = [], body: [UInt8], declared: Int, thenClose: Bool = false)
    /// `pieces` chunks of `pieceBytes` bytes, chunked, one every `interval`: a slow but
    /// steady upstream.
    case trickle(pieces: Int, pieceBytes: Int, interval: TimeAmount, byte: UInt8 = UInt8(ascii: "x"))
    /// Closes the connection without answering.
    case close
    /// Answers `then` once the test opens `gate` (an in-flight request the test controls).
    case gated(TestGate, then: TestResponse)
}

/// A real HTTP/1.1 server on 127.0.0.1 (or a unix socket, optionally behind TLS) for
/// tests: records every request and answers with what `responder` says. Runs on its
/// own event loop group.
public final class TestHTTPServer: Sendable {
    public static let maxRecordedBody = 1 << 20

    public let port: Int
    /// The socket path when bound to a unix socket.
    public let unixSocketPath: String?
    public let isTLS: Bool
    private let channel: Channel
    private let group: MultiThreadedEventLoopGroup
    private let recorded: NIOLockedValueBox<[RecordedRequest]>
    private let counters: NIOLockedValueBox<Counters>

    struct Counters {
        var accepted = 0
        var closed = 0
        var streamed = 0
    }

    /// - Parameters:
    ///   - tls: serve HTTPS with this server context.
    ///   - expectedBodyByte: count request body bytes that differ from it
    ///     (``RecordedRequest/unexpectedBodyBytes``), for byte-exact upload checks.
    ///   - readGate: read nothing from any connection until it opens (a stalled
    ///     upstream, to see that a proxy stops reading its client too).
    public static func start(
        unixSocketPath: String? = nil,
        tls: NIOSSLContext? = nil,
        expectedBodyByte: UInt8? = nil,
        readGate: TestGate? = nil,
        responder: @escaping @Sendable (RecordedRequest) -> TestResponse
    ) async throws -> TestHTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let recorded = NIOLockedValueBox<[RecordedRequest]>([])
        let counters = NIOLockedValueBox(Counters())
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                counters.withLockedValue { $0.accepted += 1 }
                channel.closeFuture.whenComplete { _ in counters.withLockedValue { $0.closed += 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let readGate { try sync.addHandler(ReadGateHandler(gate: readGate)) }
                    if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                    try sync.configureHTTPServerPipeline()
                    try sync.addHandler(TestServerHandler(recorded: recorded, counters: counters, expectedBodyByte: expectedBodyByte, responder: responder))
                }
            }
        let channel: Channel
        do {
            if let unixSocketPath {
                channel = try await bootstrap.bind(unixDomainSocketPath: unixSocketPath, cleanupExistingSocketFile: true).get()
            } else {
                channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
            }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        return TestHTTPServer(
            port: channel.localAddress?.port ?? 0, unixSocketPath: unixSocketPath, isTLS: tls != nil,
            channel: channel, group: group, recorded: recorded, counters: counters
        )
    }

    private init(port: Int, unixSocketPath: String?, isTLS: Bool, channel: Channel, group: MultiThreadedEventLoopGroup,
                 recorded: NIOLockedValueBox<[RecordedRequest]>, counters: NIOLockedValueBox<Counters>) {
        self.port = port
        self.unixSocketPath = unixSocketPath
        self.isTLS = isTLS
        self.channel = channel
        self.group = group
        self.recorded = recorded
        self.counters = counters
    }

    /// `http://127.0.0.1:<port>`, `https://…` with TLS, or `unix:<path>`.
    public var url: String {
        if let unixSocketPath { return "unix:" + unixSocketPath }
        return (isTLS ? "https" : "http") + "://127.0.0.1:\(port)"
    }

    public var requests: [RecordedRequest] { recorded.withLockedValue { $0 } }
    /// TCP connections accepted so far (keep-alive reuse shows as fewer connections).
    public var connectionCount: Int { counters.withLockedValue { $0.accepted } }
    /// Accepted connections that have since closed (either side).
    public var closedConnectionCount: Int { counters.withLockedValue { $0.closed } }
    /// Body bytes of ``TestResponse/stream(status:count:chunkSize:byte:)`` responses
    /// handed to the socket so far (it only takes them as fast as the peer reads).
    public var streamedBytes: Int { counters.withLockedValue { $0.streamed } }

    public func reset() { recorded.withLockedValue { $0.removeAll() } }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// A TLS server context from PEM files (test certificates).
public enum TestTLS {
    public static func serverContext(certificateFile: String, keyFile: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
    }
}

private final class TestServerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let recorded: NIOLockedValueBox<[RecordedRequest]>
    private let counters: NIOLockedValueBox<TestHTTPServer.Counters>
    private let expectedBodyByte: ByteRun?
    private let responder: @Sendable (RecordedRequest) -> TestResponse
    private var current: RecordedRequest?
    private var remaining = 0
    private var chunk = ByteBuffer()
    private var streaming = false
    private var keepAlive = true
    private var active = true

    init(recorded: NIOLockedValueBox<[RecordedRequest]>, counters: NIOLockedValueBox<TestHTTPServer.Counters>, expectedBodyByte: UInt8?,
         responder: @escaping @Sendable (RecordedRequest) -> TestResponse) {
        self.recorded = recorded
        self.counters = counters
        self.expectedBodyByte = expectedBodyByte.map { ByteRun(byte: $0) }
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            current = RecordedRequest(method: head.method, uri: head.uri, headers: head.headers, body: [], bodyBytes: 0)
            keepAlive = head.isKeepAlive
        case .body(let buffer):
            current?.bodyBytes += buffer.readableBytes
            if let expectedBodyByte {
                current?.unexpectedBodyBytes += expectedBodyByte.mismatches(in: buffer)
            }
            if let count = current?.body.count, count < TestHTTPServer.maxRecordedBody {
                current?.body.append(contentsOf: buffer.readableBytesView.prefix(TestHTTPServer.maxRecordedBody - count))
            }
        case .end:
            guard let request = current else { return }
            current = nil
            recorded.withLockedValue { $0.append(request) }
            respond(responder(request), context: context)
        }
    }

    private func respond(_ response: TestResponse, context: ChannelHandlerContext) {
        guard active else { return }
        switch response {
        case .fixed(let status, let extra, let body):
            respond(.bytes(status: status, headers: extra, body: Array(body.utf8)), context: context)
        case .chunked(let status, let extra, let chunks):
            var headers = HTTPHeaders()
            headers.add(name: "Transfer-Encoding", value: "chunked")
            for (n, v) in extra { headers.replaceOrAdd(name: n, value: v) }
            if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
            let keep = keepAlive
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            for chunk in chunks where !chunk.isEmpty {
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: chunk)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keep { context.close(promise: nil) }
            }
        case .bytes(let status, let extra, let body):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: String(body.count))
            for (n, v) in extra { headers.replaceOrAdd(name: n, value: v) }
            if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
            let keep = keepAlive
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keep { context.close(promise: nil) }
            }
        case .stream(let status, let count, let chunkSize, let byte):
            var headers = HTTPHeaders()
            headers.add(name: "Transfer-Encoding", value: "chunked")
            headers.add(name: "Content-Type", value: "application/octet-stream")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            chunk = context.channel.allocator.buffer(repeating: byte, count: chunkSize)
            remaining = count
            streaming = true
            pump(context: context)
        case .hang:
            break
        case .partial(let declared, let sent, let byte):
            respond(.partialBody(body: [UInt8](repeating: byte, count: sent), declared: declared), context: context)
        case .partialBody(let extra, let body, let declared, let thenClose):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: String(declared))
            for (n, v) in extra { headers.replaceOrAdd(name: n, value: v) }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let written = context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))))
            if thenClose { written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
        case .trickle(let pieces, let pieceBytes, let interval, let byte):
            var headers = HTTPHeaders()
            headers.add(name: "Transfer-Encoding", value: "chunked")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            trickle(left: pieces, piece: context.channel.allocator.buffer(repeating: byte, count: pieceBytes), interval: interval, context: context)
        case .close:
            context.close(promise: nil)
        case .gated(let gate, let then):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            gate.whenOpen {
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.respond(then, context: context)
                }
            }
        }
    }

    /// One piece now (after `interval`), the rest after that, then the end.
    private func trickle(left: Int, piece: ByteBuffer, interval: TimeAmount, context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            guard self.active else { return }
            guard left > 0 else {
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            self.counters.withLockedValue { $0.streamed += piece.readableBytes }
            context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(piece))), promise: nil)
            self.trickle(left: left - 1, piece: piece, interval: interval, context: context)
        }
    }

    /// Writes chunks while the channel is writable; resumes on writability.
    private func pump(context: ChannelHandlerContext) {
        while streaming && active && context.channel.isWritable {
            if remaining == 0 {
                streaming = false
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let n = min(remaining, chunk.readableBytes)
            remaining -= n
            counters.withLockedValue { $0.streamed += n }
            context.write(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: chunk.readerIndex, length: n) ?? chunk))), promise: nil)
        }
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if streaming && context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        streaming = false
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

/// Withholds `read` until its gate opens (first in the pipeline).
private final class ReadGateHandler: ChannelOutboundHandler {
    typealias OutboundIn = Any

    private let gate: TestGate
    private var waiting = false

    init(gate: TestGate) {
        self.gate = gate
    }

    func read(context: ChannelHandlerContext) {
        guard !gate.isOpen else { return context.read() }
        guard !waiting else { return }
        waiting = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        gate.whenOpen {
            bound.eventLoop.execute {
                let (handler, context) = bound.value
                handler.waiting = false
                context.read()
            }
        }
    }
}
