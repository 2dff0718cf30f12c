import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request whose body is generated and whose response body is counted, never held:
/// for transfers far larger than a test should keep in memory.
public struct StreamedRequest: Sendable {
    public var method: HTTPMethod
    public var target: String
    public var headers: [(String, String)]
    /// Bytes of `uploadByte` to send as the body (`nil`: no body).
    public var uploadBytes: Int?
    public var uploadByte: UInt8
    /// Send the body chunked instead of with `Content-Length`.
    public var chunked: Bool
    /// Count response bytes that differ from this one.
    public var expectedByte: UInt8?
    /// Close the connection once this many response body bytes arrived (a client that
    /// goes away mid-response).
    public var abortAfterBytes: Int?
    /// Stop reading once this many response body bytes arrived, until
    /// ``readGate`` opens (a slow client).
    public var pauseAfterBytes: Int?
    public var readGate: TestGate?
    /// Live counts while the exchange runs.
    public var progress: StreamingProgress?

    public init(
        _ method: HTTPMethod = .GET, _ target: String, headers: [(String, String)] = [], uploadBytes: Int? = nil,
        uploadByte: UInt8 = UInt8(ascii: "u"), chunked: Bool = false, expectedByte: UInt8? = nil, abortAfterBytes: Int? = nil,
        pauseAfterBytes: Int? = nil, readGate: TestGate? = nil, progress: StreamingProgress? = nil
    ) {
        self.method = method
        self.target = target
        self.headers = headers
        self.uploadBytes = uploadBytes
        self.uploadByte = uploadByte
        self.chunked = chunked
        self.expectedByte = expectedByte
        self.abortAfterBytes = abortAfterBytes
        self.pauseAfterBytes = pauseAfterBytes
        self.readGate = readGate
        self.progress = progress
    }
}

/// Bytes sent and received so far by a running ``StreamingClient`` exchange.
public final class StreamingProgress: Sendable {
    private let counts = NIOLockedValueBox((uploaded: 0, received: 0))
    public init() {}
    public var uploadedBytes: Int { counts.withLockedValue { $0.uploaded } }
    public var receivedBytes: Int { counts.withLockedValue { $0.received } }
    func add(uploaded: Int = 0, received: Int = 0) {
        counts.withLockedValue {
            $0.uploaded += uploaded
            $0.received += received
        }
    }
}

/// What came back, counted.
public struct StreamedResponse: Sendable {
    public var status: Int = 0
    public var headers: [(String, String)] = []
    public var bodyBytes = 0
    /// Response body bytes that differ from ``StreamedRequest/expectedByte``.
    public var unexpectedBytes = 0
    /// The response ended cleanly (not cut off, not aborted by the client).
    public var complete = false
    /// Request body bytes handed to the socket.
    public var uploadedBytes = 0
    public var peerClosed = false

    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}

public struct StreamingClientError: Error, CustomStringConvertible {
    public let description: String
}

/// An HTTP/1.1 client that streams both ways with backpressure: the body is written
/// only while the socket is writable, the response is counted and dropped. One request
/// per connection.
public enum StreamingClient {
    public static func run(
        host: String = "127.0.0.1", port: Int, _ request: StreamedRequest, hostHeader: String = "gatehouse.test",
        timeout: TimeAmount = .seconds(120)
    ) async throws -> StreamedResponse {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let loop = group.next()
            let promise = loop.makePromise(of: StreamedResponse.self)
            let channel = try await ClientBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            StreamingClientHandler(request: request, hostHeader: hostHeader, promise: promise)
                        )
                    }
                }
                .connect(host: host, port: port).get()
            let timer = loop.scheduleTask(in: timeout) {
                promise.fail(StreamingClientError(description: "no complete response within \(timeout.nanoseconds / 1_000_000_000) s"))
            }
            let result: Result<StreamedResponse, Error>
            do {
                result = .success(try await promise.futureResult.get())
            } catch {
                result = .failure(error)
            }
            timer.cancel()
            try? await channel.close()
            try? await group.shutdownGracefully()
            return try result.get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }
}

private final class StreamingClientHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: StreamedRequest
    private let hostHeader: String
    private let promise: EventLoopPromise<StreamedResponse>
    private let check: ByteRun?
    private var response = StreamedResponse()
    private var remaining = 0
    private var chunk = ByteBuffer()
    private var uploading = false
    private var done = false
    private var paused = false

    init(request: StreamedRequest, hostHeader: String, promise: EventLoopPromise<StreamedResponse>) {
        self.request = request
        self.hostHeader = hostHeader
        self.promise = promise
        self.check = request.expectedByte.map { ByteRun(byte: $0) }
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.target)
        head.headers.add(name: "Host", value: hostHeader)
        for (name, value) in request.headers { head.headers.add(name: name, value: value) }
        if let upload = request.uploadBytes {
            if request.chunked {
                head.headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                head.headers.add(name: "Content-Length", value: String(upload))
            }
            remaining = upload
            chunk = context.channel.allocator.buffer(repeating: request.uploadByte, count: 64 * 1024)
            uploading = true
        }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if uploading {
            pump(context: context)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireChannelActive()
    }

    /// Writes body chunks while the socket takes them; resumes on writability.
    private func pump(context: ChannelHandlerContext) {
        while uploading && !done && context.channel.isWritable {
            if remaining == 0 {
                uploading = false
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let n = min(remaining, chunk.readableBytes)
            remaining -= n
            response.uploadedBytes += n
            request.progress?.add(uploaded: n)
            context.write(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: chunk.readerIndex, length: n) ?? chunk))), promise: nil)
        }
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if uploading && context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            response.status = Int(head.status.code)
            response.headers = head.headers.map { ($0.name, $0.value) }
        case .body(let buffer):
            response.bodyBytes += buffer.readableBytes
            request.progress?.add(received: buffer.readableBytes)
            if let check { response.unexpectedBytes += check.mismatches(in: buffer) }
            if let limit = request.abortAfterBytes, response.bodyBytes >= limit {
                finish(context: context)
            }
        case .end:
            response.complete = true
            finish(context: context)
        }
    }

    func read(context: ChannelHandlerContext) {
        if let limit = request.pauseAfterBytes, let gate = request.readGate, response.bodyBytes >= limit, !gate.isOpen {
            guard !paused else { return }
            paused = true
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            gate.whenOpen {
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.paused = false
                    context.read()
                }
            }
            return
        }
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        response.peerClosed = true
        finish(context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(context: context)
    }

    private func finish(context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        uploading = false
        promise.succeed(response)
        context.close(promise: nil)
    }
}
