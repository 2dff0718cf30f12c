import NIOCore
import NIOHTTP1

extension ProxyHandler {
    /// Writes what the HTML injector produced for one upstream event: the response head
    /// once it is decided, then the body bytes (an empty piece is not written: to a chunked
    /// encoder a zero-length chunk would end the body). On the connection's event loop.
    func writeRewritten(_ output: HTMLResponseRewriter.Output, exchange: Exchange, context: ChannelHandlerContext) {
        if let head = output.head {
            if head.status.code >= 200 { exchange.clientResponseStarted = true }
            send(.head(head), context: context)
        }
        if let body = output.body, body.readableBytes > 0 {
            send(.body(.byteBuffer(body)), context: context)
        }
        if let rest = output.rest, rest.readableBytes > 0 {
            send(.body(.byteBuffer(rest)), context: context)
        }
    }
}
