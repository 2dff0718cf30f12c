import NIOCore
import NIOHTTP1

/// Joins two channels byte for byte once an `Upgrade` (WebSocket) was accepted by the
/// upstream's `101`: whatever one side reads, the other writes. Reads are withheld while
/// the partner is not writable, so a fast sender cannot fill memory (the GlueHandler of
/// swift-nio-examples' connect-proxy). Both channels share one event loop. Every read
/// tells the pair's ``TunnelIdleWatch``, which closes a tunnel left silent.
final class TunnelGlueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: TunnelGlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private let idleWatch: TunnelIdleWatch

    private init(idleWatch: TunnelIdleWatch) {
        self.idleWatch = idleWatch
    }

    /// Two handlers, one for each channel, that know each other and share `idleWatch`.
    static func matchedPair(idleWatch: TunnelIdleWatch) -> (TunnelGlueHandler, TunnelGlueHandler) {
        let first = TunnelGlueHandler(idleWatch: idleWatch)
        let second = TunnelGlueHandler(idleWatch: idleWatch)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    /// Closes this side; its `channelInactive` closes the partner.
    func close() {
        context?.close(promise: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    private func partnerWrite(_ data: NIOAny) {
        context?.write(data, promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerWriteEOF() {
        context?.close(mode: .output, promise: nil)
    }

    private func partnerCloseFull() {
        context?.close(promise: nil)
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    private var partnerWritable: Bool {
        context?.channel.isWritable ?? false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        idleWatch.touch()
        partner?.partnerWrite(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleWatch.stop()
        partner?.partnerCloseFull()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            partner?.partnerWriteEOF()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            partner?.partnerBecameWritable()
        }
    }

    func read(context: ChannelHandlerContext) {
        if let partner, partner.partnerWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }
}

/// Turns an HTTP/1.1 connection pair into a byte tunnel after a `101 Switching Protocols`.
enum TunnelSwitch {
    /// Removes the HTTP handlers from both pipelines and glues them; a tunnel silent for
    /// `idleTimeout` is closed. Must run on the shared event loop, after the `101` head
    /// was written to the client.
    static func engage(
        client: Channel, upstream: Channel, proxyHandler: RemovableChannelHandler, upstreamHandler: RemovableChannelHandler,
        idleTimeout: TimeAmount
    ) throws {
        // The watch reaches the handlers weakly: they own it, not the other way round.
        weak var closer: TunnelGlueHandler?
        let idleWatch = TunnelIdleWatch(timeout: idleTimeout) { closer?.close() }
        let (clientGlue, upstreamGlue) = TunnelGlueHandler.matchedPair(idleWatch: idleWatch)
        closer = clientGlue
        let clientOps = client.pipeline.syncOperations
        let upstreamOps = upstream.pipeline.syncOperations
        // Each glue goes right after its side's HTTP decoder before the decoder leaves: bytes
        // that came behind the upgrade request (the client's first frames) or behind the 101
        // (the upstream's) are handed on by the decoder as it leaves, once and in order.
        let clientDecoder = try clientOps.handler(type: HTTPRequestDecodingHandler.self)
        try clientOps.addHandler(clientGlue, position: .after(clientDecoder))
        remove(RequestSequencer.self, from: clientOps)
        clientOps.removeHandler(proxyHandler, promise: nil)
        let upstreamDecoder = try upstreamOps.handler(type: HTTPResponseDecodingHandler.self)
        try upstreamOps.addHandler(upstreamGlue, position: .after(upstreamDecoder))
        upstreamOps.removeHandler(upstreamHandler, promise: nil)
        remove(UpstreamRequestEncoder.self, from: upstreamOps)
        // A decoder leaves in a task of its own and hands its leftovers on without a read's
        // end, which is what flushes the other side: flushed when it is gone. The upstream's
        // first: its decoder also watches what is written upstream (HTTP parts only), so the
        // client's bytes may go that way only once it has left.
        let upstreamDecoderGone = upstream.eventLoop.makePromise(of: Void.self)
        upstreamOps.removeHandler(upstreamDecoder, promise: upstreamDecoderGone)
        let clientDecoderGone = client.eventLoop.makePromise(of: Void.self)
        upstreamDecoderGone.futureResult.assumeIsolated().whenComplete { _ in
            client.flush()
            client.pipeline.syncOperations.removeHandler(clientDecoder, promise: clientDecoderGone)
        }
        clientDecoderGone.futureResult.whenComplete { _ in upstream.flush() }
        idleWatch.start(on: client.eventLoop)
        // Resume reading on both sides: the HTTP handlers may have held reads back.
        client.read()
        upstream.read()
    }

    private static func remove<H: RemovableChannelHandler>(_ type: H.Type, from ops: ChannelPipeline.SynchronousOperations) {
        if let handler = try? ops.handler(type: type) {
            ops.removeHandler(handler, promise: nil)
        }
    }
}
