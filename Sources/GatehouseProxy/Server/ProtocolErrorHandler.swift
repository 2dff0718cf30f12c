import NIOCore
import NIOHTTP1

/// Answers requests the HTTP/1.1 decoder refused (SPEC "Routing", framing read strictly):
/// an oversized head gets 431, any other parse error 400; then the connection closes,
/// so no byte of the bad request is ever read as the next one.
///
/// Sits right after the server codec. If a response is already under way it only
/// closes. Runs on the connection's event loop.
final class ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInFlight = false
    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // Handled here, not passed on: the handlers after this one would close the
        // connection before the answer is written. Closing reaches them as inactive.
        let alreadyFailed = failed
        failed = true
        guard !alreadyFailed else { return }
        guard !responseInFlight else {
            context.close(promise: nil)
            return
        }
        let response: LocalResponse = parserError == .headerOverflow ? .headersTooLarge : .badRequest
        let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: response.headers(keepAlive: false))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
        body.writeString(response.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200:
            responseInFlight = true
        case .end:
            responseInFlight = false
        default:
            break
        }
        context.write(data, promise: promise)
    }
}
