import NIOCore
import NIOHTTP1

/// Receives the events an exchange cares about from its upstream connection.
/// Called on the upstream channel's event loop, which is the client's loop too.
protocol UpstreamHandlerDelegate: AnyObject {
    /// `keepAlive`: llhttp's verdict on the response's message (a response delimited by
    /// the connection's close is not keep-alive, whatever its `Connection` field says).
    /// `fields`: with a head, its fields' hop-by-hop scan, made as they were decoded (`nil`
    /// when not made: the head's fields are walked for it).
    func upstreamRead(_ part: HTTPClientResponsePart, keepAlive: Bool, fields: HeaderHygiene.HopByHopScan?)
    func upstreamReadComplete()
    func upstreamClosed()
    func upstreamFailed(_ error: Error)
    func upstreamWritabilityChanged(isWritable: Bool)
}

/// The last handler of an upstream connection: forwards response parts to the exchange
/// that owns the connection, and withholds reads while that exchange's client cannot
/// take more (backpressure, as in swift-nio-examples' GlueHandler).
///
/// Runs on the connection's event loop. While pooled it has no owner: anything the
/// upstream sends then is a protocol violation and closes the connection.
final class UpstreamHandler: ChannelDuplexHandler, RemovableChannelHandler, DecodedResponseReceiver {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    /// The exchange's handler while it holds this connection. Strong, as swift-nio-examples'
    /// GlueHandler holds its partner: the exchange holds this handler, so the cycle is
    /// broken by hand — when the connection is released or dropped, handed to a tunnel, or
    /// leaves its pipeline. (A `weak` reference gives the client's handler a side table,
    /// which makes each of its retains and releases, a dozen per request, the slow kind.)
    var owner: UpstreamHandlerDelegate?
    private var context: ChannelHandlerContext?
    /// This connection's request encoder and response decoder (the pipeline's): the
    /// encoder writes the heads Gatehouse built and says whether a request's end has bytes
    /// to send; the decoder learns each request's method.
    private let encoder: UpstreamRequestEncoder
    private let decoder: HTTPResponseDecodingHandler

    /// Where ``flush()`` puts its flush off to the end of the loop's tick (the loop's,
    /// set by the pool); `nil`: it flushes at once.
    var flushes: DeferredFlushes?
    /// A flush of this connection's request bytes waits in ``flushes``.
    private var flushQueued = false

    init(encoder: UpstreamRequestEncoder, decoder: HTTPResponseDecodingHandler) {
        self.encoder = encoder
        self.decoder = decoder
        // The decoder is the handler right before this one: its parts skip the pipeline.
        // (The reference ends when the decoder leaves the pipeline.)
        decoder.decoder.responseReceiver = self
    }
    /// Reads are withheld because the client cannot take more: the upstream is not
    /// waited on meanwhile (see ``ProxyHandler/upstreamOwesProgress(_:)``).
    private(set) var holdingReads = false
    private var pendingRead = false
    /// Set when the connection was pooled and has since closed or misbehaved.
    private(set) var isUsable = true
    /// Between a read's first decoded part and its end: a connection released meanwhile
    /// (by the part that ended its response) is not handed out until the rest of the read
    /// is decoded (``UpstreamConnectionPool/takeIdle(_:)``).
    private(set) var inRead = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        owner = nil
        // Leaving for a tunnel: the request's bytes go before the tunnel's.
        flushIfQueued(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only when the decoder was not wired to this handler, which the pool never does:
        // without llhttp's verdict (a head built outside NIOHTTP1 cannot carry it, and its
        // `Connection` field cannot tell a response delimited by the close) the connection
        // is not reused.
        received(unwrapInboundIn(data), keepAlive: false, fields: nil, context: context)
    }

    private func received(_ part: HTTPClientResponsePart, keepAlive: Bool, fields: HeaderHygiene.HopByHopScan?, context: ChannelHandlerContext) {
        inRead = true
        guard let owner else {
            isUsable = false
            context.close(promise: nil)
            return
        }
        owner.upstreamRead(part, keepAlive: keepAlive, fields: fields)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inRead = false
        owner?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isUsable = false
        owner?.upstreamClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        isUsable = false
        owner?.upstreamFailed(error)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        owner?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if holdingReads {
            pendingRead = true
        } else {
            read(from: context)
        }
    }

    /// Writes a request part from this handler's own context (it is the pipeline's last).
    /// `Channel.write` wraps its argument in an unspecialized generic: a dynamic cast and
    /// metadata look-ups for every part, ~1% of the `/_api` path's instructions.
    /// A connection already torn down drops the part, as its channel would.
    func write(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    /// A request's head, built and framed (``UpstreamRequestBuilder``): its bytes to the
    /// encoder and its method to the response decoder, by direct calls. Through the pipeline
    /// it crossed two handlers, each casting it back from `NIOAny`.
    /// `recycle`: whether the head's buffer goes back to the loop's spares once written;
    /// not while a copy is kept to send it again (``Exchange/replay``).
    func write(_ request: UpstreamRequest, recycle: Bool = true) {
        guard context != nil else { return }
        decoder.observe(method: request.method)
        encoder.write(prepared: request.head, framing: request.framing, recycle: recycle)
    }

    /// The request's end. Sent through the pipeline only when the encoder has bytes for
    /// it: otherwise it is nothing on the wire, and nothing else on the way looks at it
    /// (the response decoder notes request heads only) — one trip through the pipeline
    /// less per request, ~2,000 instructions.
    func writeEnd(_ trailers: HTTPHeaders?) {
        guard encoder.endWritesBytes else { return }
        write(.end(trailers))
    }

    /// Flushes the request's bytes — at the end of the loop's tick when the loop defers
    /// flushes (``DeferredFlushes``).
    func flush() {
        guard let context else { return }
        guard let flushes else { return flush(from: context) }
        if !flushQueued {
            if flushes.defer(self) { flushQueued = true } else { flush(from: context) }
        }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // What the close would have found without the deferral.
        flushIfQueued(context: context)
        context.close(mode: mode, promise: promise)
    }

    /// Makes a deferred flush now.
    private func flushIfQueued(context: ChannelHandlerContext) {
        guard flushQueued else { return }
        flushQueued = false
        flush(from: context)
    }

    /// Flushes and reads start at the encoder, the pipeline's first HTTP handler
    /// (``UpstreamRequestEncoder/flushFromHere()``), while it is there.
    private func flush(from context: ChannelHandlerContext) {
        if !encoder.flushFromHere() { context.flush() }
    }

    private func read(from context: ChannelHandlerContext) {
        if !encoder.readFromHere() { context.read() }
    }

    /// `channelRead(context:data:)` from the response decoder without the round trip
    /// through `NIOAny`.
    func decoded(_ part: HTTPClientResponsePart, keepAlive: Bool, fields: HeaderHygiene.HopByHopScan?) -> Bool {
        guard let context else { return false }
        received(part, keepAlive: keepAlive, fields: fields, context: context)
        return true
    }

    /// Stop reading from the upstream until ``resumeReads()`` (the client is not writable).
    func holdReads() {
        holdingReads = true
    }

    func resumeReads() {
        holdingReads = false
        if pendingRead, let context {
            pendingRead = false
            read(from: context)
        }
    }
}

extension UpstreamHandler: DeferredFlushing {
    func flushDeferred() {
        // Gone from the pipeline meanwhile: `handlerRemoved` flushed.
        guard let context else { return }
        flushIfQueued(context: context)
    }
}
