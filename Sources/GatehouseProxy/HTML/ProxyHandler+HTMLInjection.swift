import NIOCore
import NIOHTTP1

extension ProxyHandler {
    /// Writes what the HTML injector produced for one upstream event: the response head
    /// once it is decided, then the body bytes (an empty piece is not written: to a chunked
    /// encoder a zero-length chunk would end the body). On the connection's event loop.
    func writeRewritten(_ output: HTMLResponseRewriter.Output, exchange: Exchange, context: ChannelHandlerContext) {
        if let head = output.head {
            if head.status.code >= 200 { exchange.clientResponseStarted = true }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
        }
        if let body = output.body, body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        if let rest = output.rest, rest.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(rest))), promise: nil)
        }
    }
}
