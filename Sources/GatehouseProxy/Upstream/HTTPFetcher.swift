import GatehouseCore
import NIOCore
import NIOHTTP1

/// A bounded one-shot HTTP GET over NIO, for the JWKS and other small documents
/// Gatehouse itself needs. Non-blocking: it runs on the given event loop, never waits.
public struct HTTPFetcher: Sendable {
    /// What came back: status, headers and the (bounded) body.
    public struct Response: Sendable {
        public var status: HTTPResponseStatus
        public var headers: HTTPHeaders
        public var body: ByteBuffer
    }

    public struct FetchError: Error, CustomStringConvertible {
        public let description: String
    }

    public var maxBodyBytes: Int = 1 << 20
    public var timeout: TimeAmount = .seconds(5)

    public init(maxBodyBytes: Int = 1 << 20, timeout: TimeAmount = .seconds(5)) {
        self.maxBodyBytes = maxBodyBytes
        self.timeout = timeout
    }

    /// GETs `path` from `endpoint` on `eventLoop`.
    public func get(_ endpoint: UpstreamEndpoint, path: String, headers extraHeaders: HTTPHeaders = [:], on eventLoop: EventLoop) -> EventLoopFuture<Response> {
        let promise = eventLoop.makePromise(of: Response.self)
        let maxBody = maxBodyBytes
        let timeout = self.timeout
        let connected = endpoint.connect(on: eventLoop, connectTimeout: timeout) { channel in
            try channel.pipeline.syncOperations.addHandler(FetchHandler(promise: promise, maxBodyBytes: maxBody))
        }
        let timer = eventLoop.scheduleTask(in: timeout) {
            promise.fail(FetchError(description: "timed out after \(timeout.nanoseconds / 1_000_000) ms"))
        }
        connected.whenComplete { result in
            switch result {
            case .failure(let error):
                promise.fail(FetchError(description: "connect failed: \(error)"))
            case .success(let channel):
                var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.url.basePath + path)
                head.headers.add(name: "Host", value: endpoint.url.hostHeader)
                head.headers.add(name: "Accept", value: "application/json")
                head.headers.add(name: "User-Agent", value: "gatehouse")
                head.headers.add(name: "Connection", value: "close")
                head.headers.add(contentsOf: extraHeaders)
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
            }
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }
}

/// Collects one response into memory, failing past `maxBodyBytes`.
private final class FetchHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<HTTPFetcher.Response>
    private let maxBodyBytes: Int
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?

    init(promise: EventLoopPromise<HTTPFetcher.Response>, maxBodyBytes: Int) {
        self.promise = promise
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = context.channel.allocator.buffer(capacity: 0)
        case .body(var chunk):
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBodyBytes {
                promise.fail(HTTPFetcher.FetchError(description: "response larger than \(maxBodyBytes) bytes"))
                context.close(promise: nil)
                return
            }
            body?.writeBuffer(&chunk)
        case .end:
            if let head {
                promise.succeed(.init(status: head.status, headers: head.headers, body: body ?? ByteBuffer()))
            } else {
                promise.fail(HTTPFetcher.FetchError(description: "no response head"))
            }
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(HTTPFetcher.FetchError(description: "\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(HTTPFetcher.FetchError(description: "connection closed before the response ended"))
    }
}
