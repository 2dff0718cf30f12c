import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A request as a test upstream received it.
public struct RecordedRequest: Sendable {
    public var method: HTTPMethod
    public var uri: String
    public var headers: HTTPHeaders
    /// The body, kept only up to ``TestHTTPServer/maxRecordedBody`` bytes.
    public var body: [UInt8]
    /// Every body byte counted, recorded or not.
    public var bodyBytes: Int

    public var path: String { String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]) }
    public var query: String? {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count == 2 ? String(parts[1]) : nil
    }
    public func values(_ name: String) -> [String] { headers[name] }
}

/// What a test upstream answers.
public enum TestResponse: Sendable {
    /// A complete response with `Content-Length`.
    case fixed(status: HTTPResponseStatus = .ok, headers: [(String, String)] = [], body: String)
    /// `count` bytes of `byte`, chunked, written as the client reads (backpressure-aware).
    case stream(status: HTTPResponseStatus = .ok, count: Int, chunkSize: Int = 64 * 1024, byte: UInt8 = UInt8(ascii: "x"))
    /// Never answers (for response timeouts).
    case hang
    /// Closes the connection without answering.
    case close
}

/// A real HTTP/1.1 server on 127.0.0.1 for tests: records every request and answers
/// with what `responder` says. Runs on its own event loop group.
public final class TestHTTPServer: Sendable {
    public static let maxRecordedBody = 1 << 20

    public let port: Int
    private let channel: Channel
    private let group: MultiThreadedEventLoopGroup
    private let recorded: NIOLockedValueBox<[RecordedRequest]>
    private let connections: NIOLockedValueBox<Int>

    public static func start(
        unixSocketPath: String? = nil,
        responder: @escaping @Sendable (RecordedRequest) -> TestResponse
    ) async throws -> TestHTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let recorded = NIOLockedValueBox<[RecordedRequest]>([])
        let connections = NIOLockedValueBox<Int>(0)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.withLockedValue { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(TestServerHandler(recorded: recorded, responder: responder))
                }
            }
        let channel: Channel
        if let unixSocketPath {
            channel = try await bootstrap.bind(unixDomainSocketPath: unixSocketPath, cleanupExistingSocketFile: true).get()
        } else {
            channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        }
        return TestHTTPServer(port: channel.localAddress?.port ?? 0, channel: channel, group: group, recorded: recorded, connections: connections)
    }

    private init(port: Int, channel: Channel, group: MultiThreadedEventLoopGroup, recorded: NIOLockedValueBox<[RecordedRequest]>, connections: NIOLockedValueBox<Int>) {
        self.port = port
        self.channel = channel
        self.group = group
        self.recorded = recorded
        self.connections = connections
    }

    /// `http://127.0.0.1:<port>`.
    public var url: String { "http://127.0.0.1:\(port)" }

    public var requests: [RecordedRequest] { recorded.withLockedValue { $0 } }
    /// TCP connections accepted so far (keep-alive reuse shows as fewer connections).
    public var connectionCount: Int { connections.withLockedValue { $0 } }

    public func reset() { recorded.withLockedValue { $0.removeAll() } }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

private final class TestServerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let recorded: NIOLockedValueBox<[RecordedRequest]>
    private let responder: @Sendable (RecordedRequest) -> TestResponse
    private var current: RecordedRequest?
    private var remaining = 0
    private var chunk = ByteBuffer()
    private var streaming = false
    private var keepAlive = true

    init(recorded: NIOLockedValueBox<[RecordedRequest]>, responder: @escaping @Sendable (RecordedRequest) -> TestResponse) {
        self.recorded = recorded
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            current = RecordedRequest(method: head.method, uri: head.uri, headers: head.headers, body: [], bodyBytes: 0)
            keepAlive = head.isKeepAlive
        case .body(let buffer):
            current?.bodyBytes += buffer.readableBytes
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
        switch response {
        case .fixed(let status, let extra, let body):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            for (n, v) in extra { headers.replaceOrAdd(name: n, value: v) }
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let keep = keepAlive
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
        case .close:
            context.close(promise: nil)
        }
    }

    /// Writes chunks while the channel is writable; resumes on writability.
    private func pump(context: ChannelHandlerContext) {
        while streaming && context.channel.isWritable {
            if remaining == 0 {
                streaming = false
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let n = min(remaining, chunk.readableBytes)
            remaining -= n
            context.write(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: chunk.readerIndex, length: n) ?? chunk))), promise: nil)
        }
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if streaming && context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }
}
