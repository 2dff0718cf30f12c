import NIOCore
import NIOHTTP1

/// Serializes the requests Gatehouse sends upstream, in place of NIO's `HTTPRequestEncoder`
/// and with its framing rules (`automaticallySetFramingHeaders`), but writing each head
/// with ``HTTPHeadSerializer`` in one pass: NIO's head writing was the largest single cost
/// of the `/_api` path in Gatehouse's control.
final class UpstreamRequestEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = IOData

    /// How the request under way delimits its body.
    private var framing = HTTPBodyFraming.neither
    /// The loop's spare head buffer (``HeadBufferRecycler``), set by the pool that opened
    /// this connection; without one (a one-off fetch) each head gets a buffer of its own.
    var headBuffers: HeadBufferRecycler?

    /// Set while in a pipeline: ``write(prepared:framing:)`` writes from here.
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// A head ``UpstreamRequestBuilder`` already wrote and framed (``UpstreamRequest``),
    /// handed over by ``UpstreamHandler`` directly: written from this handler's place, the
    /// pipeline's first, so it is not wrapped, passed and cast on the way. A connection
    /// torn down drops it, as its channel would.
    func write(prepared head: ByteBuffer, framing: HTTPBodyFraming, recycle: Bool = true) {
        guard let context else { return }
        self.framing = framing
        context.write(wrapOutboundOut(.byteBuffer(head)), promise: nil)
        if recycle { headBuffers?.recycle(head) }
    }

    /// A flush or a read started from this handler's place instead of the upstream
    /// handler's: the handlers in between (the response decoder and this encoder) pass
    /// both on untouched, so each would be two hops through the pipeline for nothing
    /// (~140 instructions a hop, one flush and one read per exchange). `false` when out of
    /// a pipeline: the caller's own context carries it then.
    func flushFromHere() -> Bool {
        guard let context else { return false }
        context.flush()
        return true
    }

    func readFromHere() -> Bool {
        guard let context else { return false }
        context.read()
        return true
    }

    /// Whether the request under way ends with bytes (the last chunk): an `.end` of one
    /// framed by `Content-Length`, or by nothing, writes nothing (see
    /// ``UpstreamHandler/writeEnd(_:)``).
    var endWritesBytes: Bool { framing == .chunked }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            let (framing, headerBytes) = HTTPBodyFraming.frame(&head.headers, version: head.version, body: Self.bodyExpectation(head.method))
            self.framing = framing
            var buffer = headBuffers?.take() ?? context.channel.allocator.buffer(capacity: 0)
            HTTPHeadSerializer.write(head, headerBytes: headerBytes, into: &buffer)
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
            headBuffers?.recycle(buffer)
        case .body(let part):
            guard framing != .neither || part.readableBytes == 0 else {
                // A request body has no end but its framing (RFC 9112 §6.3: never the
                // connection's close): written bare, the upstream would read it as the next
                // request. The request validator keeps such bodies out; this is the backstop.
                promise?.fail(UnframedRequestBody())
                context.close(promise: nil)
                return
            }
            HTTPBodyFraming.writeBody(part, chunked: framing == .chunked, context: context, promise: promise)
        case .end(let trailers):
            HTTPBodyFraming.writeEnd(trailers, chunked: framing == .chunked, context: context, promise: promise)
        }
    }

    /// A body part for a request whose head framed none: refused, the connection closed.
    struct UnframedRequestBody: Error {}

    /// NIO's `HTTPMethod.hasRequestBody`: none on a TRACE; POST, PUT and PATCH have one
    /// (sent chunked when its length is not declared); others only if declared.
    static func bodyExpectation(_ method: HTTPMethod) -> HTTPBodyFraming.BodyExpectation {
        switch method {
        case .TRACE: .no
        case .POST, .PUT, .PATCH: .yes
        default: .unlikely
        }
    }
}
