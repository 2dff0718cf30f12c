import NIOCore
import NIOHTTP1

/// Serializes the requests Gatehouse sends upstream, in place of NIO's `HTTPRequestEncoder`
/// and with its framing rules (`automaticallySetFramingHeaders`), but writing each head
/// with ``HTTPHeadSerializer`` in one pass: NIO's head writing was the largest single cost
/// of the `/_api` path in Gatehouse's control. Body parts and trailers are framed as NIO
/// frames them (chunked when the head says so).
final class UpstreamRequestEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = IOData

    private var isChunked = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            isChunked = Self.frame(&head) == .chunked
            var buffer = context.channel.allocator.buffer(capacity: 0)
            HTTPHeadSerializer.write(head, into: &buffer)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .body(let part):
            guard isChunked, part.readableBytes > 0 else {
                // An empty chunk would read as the last one; it is still written (empty)
                // so its promise completes in order.
                context.write(wrapOutboundOut(part), promise: promise)
                return
            }
            var size = context.channel.allocator.buffer(capacity: 18)
            size.writeString(String(part.readableBytes, radix: 16))
            size.writeStaticString("\r\n")
            context.write(wrapOutboundOut(.byteBuffer(size)), promise: nil)
            context.write(wrapOutboundOut(part), promise: nil)
            var crlf = context.channel.allocator.buffer(capacity: 2)
            crlf.writeStaticString("\r\n")
            // Writes complete in order and a failure fails those after it: the last one's
            // promise stands for all three.
            context.write(wrapOutboundOut(.byteBuffer(crlf)), promise: promise)
        case .end(let trailers):
            if isChunked {
                var buffer = context.channel.allocator.buffer(capacity: 0)
                buffer.writeStaticString("0\r\n")
                if let trailers {
                    HTTPHeadSerializer.write(trailers, into: &buffer)
                } else {
                    buffer.writeStaticString("\r\n")
                }
                context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
            } else if let promise {
                // Nothing to send; an empty write keeps the promise in order.
                context.write(wrapOutboundOut(.byteBuffer(context.channel.allocator.buffer(capacity: 0))), promise: promise)
            }
        }
    }

    enum Framing: Equatable {
        case chunked, contentLength, neither
    }

    /// NIO's `correctlyFrameTransportHeaders` for requests: no framing headers on a TRACE;
    /// `Content-Length` wins over `Transfer-Encoding`; a POST, PUT or PATCH with neither
    /// is sent chunked (HTTP/1.1); other methods keep a `chunked` they declare.
    static func frame(_ head: inout HTTPRequestHead) -> Framing {
        switch head.method {
        case .TRACE:
            head.headers.remove(name: "content-length")
            head.headers.remove(name: "transfer-encoding")
            return .neither
        case .POST, .PUT, .PATCH:
            if head.headers.contains(name: "content-length") {
                head.headers.remove(name: "transfer-encoding")
                return .contentLength
            }
            guard head.version.major == 1, head.version.minor >= 1 else { return .neither }
            head.headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
            return .chunked
        default:
            if head.headers.contains(name: "content-length") {
                head.headers.remove(name: "transfer-encoding")
                return .contentLength
            }
            guard head.version.major == 1, head.version.minor >= 1 else { return .neither }
            return head.headers["transfer-encoding"].first == "chunked" ? .chunked : .neither
        }
    }
}
