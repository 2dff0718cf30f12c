import NIOCore
import NIOHTTP1

/// Serializes responses to the client, in place of NIO's `HTTPResponseEncoder` and with its
/// rules — a response to HEAD or CONNECT has no body; framing fields follow the status
/// (none on 1xx, 204, 304 or a CONNECT's answer), `Content-Length` wins, else chunked on
/// HTTP/1.1 — but writing each head with ``HTTPHeadSerializer`` in one pass (NIO's header
/// writing was ~4,000 instructions of every `/_api` response).
///
/// NIO's request decoder tells its own encoder each request's method; here the
/// ``RequestSequencer``, which sees every decoded head in order, does
/// (``recordRequestMethod(_:)``).
final class ClientResponseEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = IOData

    private var isChunked = false
    /// The response under way answers a HEAD or CONNECT: its body parts are refused.
    private var suppressResponseBody = false
    /// Methods of requests decoded and not yet answered by a final head, oldest first.
    private var requestMethods = CircularBuffer<HTTPMethod>(initialCapacity: 4)

    func recordRequestMethod(_ method: HTTPMethod) {
        requestMethods.append(method)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            // A 1xx other than 101 is followed by the final head, which is the one that
            // answers the request.
            let code = head.status.code
            let interim = code >= 100 && code < 200 && code != 101
            var answeringConnect = false
            if !interim, let method = requestMethods.popFirst() {
                // Matched, not compared: `HTTPMethod`'s `==` compares raw-value strings.
                switch method {
                case .HEAD: suppressResponseBody = true
                case .CONNECT: (suppressResponseBody, answeringConnect) = (true, true)
                default: suppressResponseBody = false
                }
            }
            let body: HTTPBodyFraming.BodyExpectation = answeringConnect || !head.status.mayHaveResponseBody ? .no : .yes
            let chunked = HTTPBodyFraming.frame(&head.headers, version: head.version, body: body) == .chunked
            isChunked = suppressResponseBody ? false : chunked
            var buffer = context.channel.allocator.buffer(capacity: 0)
            HTTPHeadSerializer.write(head, into: &buffer)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        case .body(let part):
            guard !suppressResponseBody else {
                // Nothing is written, so the head and end still make a bodiless response.
                promise?.fail(NIOHTTPResponseEncoderError.responseBodyNotAllowed)
                return
            }
            HTTPBodyFraming.writeBody(part, chunked: isChunked, context: context, promise: promise)
        case .end(let trailers):
            suppressResponseBody = false
            HTTPBodyFraming.writeEnd(trailers, chunked: isChunked, context: context, promise: promise)
        }
    }
}
