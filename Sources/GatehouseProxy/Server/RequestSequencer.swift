import NIOCore
import NIOHTTP1

/// Hands the client's requests on one at a time and in order, holding pipelined ones
/// back, and holds the next request (and reads) while the client does not take its
/// responses; closes after the current response on a drain. The rules
/// are ``RequestSequence``'s; this handler only runs them. Sits right after the request
/// decoder, in place of NIO's `HTTPServerPipelineHandler` (which stops reading for the whole
/// of every response), and writes the responses' bytes with a ``ClientResponseEncoder``
/// (which needs each request's method, seen here in order). Runs on the connection's
/// event loop.
///
/// A request the decoder refused (SPEC "Routing", framing read strictly) is answered here
/// when its turn comes: 431 for an oversized head, 400 for any other parse error, then
/// the connection closes, so no byte of it is ever read as the next request; with a
/// response already under way it only closes. (A handler of its own until it was measured:
/// one more hop for every part of every request and response, ~3,000 instructions per
/// `/_api` call, for a decision that needs this handler's ordering anyway.)
final class RequestSequencer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = IOData

    enum Held {
        case part(HTTPServerRequestPart)
        case error(Error)
    }

    /// The handler right after this one, when it takes request parts by a direct call
    /// (``ProxyHandler``, wired by ``ProxyServer``): handed on through the pipeline, each
    /// part was wrapped in a `NIOAny` again and cast back there. Cleared when either
    /// leaves the pipeline (which also breaks the reference cycle with it).
    var receiver: RequestPartReceiver?

    /// Never `nil` but inside ``withSequence(_:)``.
    private var sequence: RequestSequence<Held>? = RequestSequence()
    /// Told when a complete head is held while no exchange runs (see ``channelRead``),
    /// when the client owes a request body, and when a read goes down to wait for it.
    private let timeouts: ClientTimeoutHandler?
    /// Handing held events on can write a response's end, which hands the next ones on:
    /// one drain loop at a time.
    private var delivering = false
    /// While held events are handed on: the last response end written (not yet flushed),
    /// which a close they cause must wait for.
    private var lastEndWritten: EventLoopFuture<Void>?
    /// A final response head was written and its end not yet.
    private var responseInFlight = false
    /// A parse error was answered: nothing more is read as a request.
    private var failed = false

    /// Told each request's method as it is decoded, so the response answering it is
    /// framed for it (no body for HEAD or CONNECT).
    private let encoder: ClientResponseEncoder
    /// This handler's own context while it is in the pipeline (see ``writeResponse(_:promise:)``).
    private var ownContext: ChannelHandlerContext?

    /// Where ``flushResponses()`` puts its flush off to the end of the loop's tick; `nil`:
    /// it flushes at once.
    private let flushes: DeferredFlushes?
    /// A flush of this connection's responses waits in ``flushes``.
    private var flushQueued = false

    /// `headBuffers`: the loop's (``LoopContext``); a sequencer of its own by default.
    /// `flushes`: the loop's; `nil` (tests on an `EmbeddedChannel`) flushes at once.
    init(timeouts: ClientTimeoutHandler? = nil, headBuffers: HeadBufferRecycler = HeadBufferRecycler(), flushes: DeferredFlushes? = nil) {
        self.timeouts = timeouts
        self.encoder = ClientResponseEncoder(headBuffers: headBuffers)
        self.flushes = flushes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        ownContext = context
    }

    // MARK: - Called by the handler right after this one

    // ``ProxyHandler`` sits right after this handler (``ProxyServer``'s pipeline) and calls
    // these instead of its context's `write`, `flush` and `read`: through the pipeline,
    // each response part was wrapped in a `NIOAny` (an existential box) and cast back
    // here (`swift_dynamicCast`), ~500 instructions per part and ~3,000 per `/_api`
    // exchange, to reach the very next handler. Each returns `false` once this handler
    // has left the pipeline (a tunnel took over); the caller then goes through its context.

    /// `write(context:data:promise:)` without the round trip through `NIOAny`.
    func writeResponse(_ part: HTTPServerResponsePart, promise: EventLoopPromise<Void>?) -> Bool {
        guard let context = ownContext else { return false }
        write(part, context: context, promise: promise)
        return true
    }

    /// A response built once, as its ready bytes (``ClientResponseEncoder/writePrebuilt(_:context:)``);
    /// `false`, with nothing written, when it must go as parts instead: the sequencer left
    /// the pipeline, the connection is closing (the head then gets `Connection: close`), or
    /// the encoder declines.
    func writePrebuilt(_ prebuilt: LocalResponse.Prebuilt) -> Bool {
        guard let context = ownContext, sequence?.responsesMustClose == false else { return false }
        guard encoder.writePrebuilt(prebuilt, context: context) else { return false }
        responseInFlight = true
        return true
    }

    /// `flush(context:)`, called directly; at the end of the loop's tick when the loop
    /// defers flushes (``DeferredFlushes``).
    func flushResponses() -> Bool {
        guard let context = ownContext else { return false }
        // `flushes` chained rather than bound (binding a `let` copies it: a retain and a
        // release); without one, the flush is made now.
        if !flushQueued {
            if flushes?.defer(self) == true { flushQueued = true } else { flush(context: context) }
        }
        return true
    }

    /// Makes a deferred flush now: before a close (which would fail what is written and
    /// not flushed) and when leaving the pipeline.
    private func flushIfQueued(context: ChannelHandlerContext) {
        guard flushQueued else { return }
        flushQueued = false
        flush(context: context)
    }

    /// `read(context:)`, called directly.
    func readRequests() -> Bool {
        guard let context = ownContext else { return false }
        read(context: context)
        return true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received(unwrapInboundIn(data), context: context)
    }

    private func received(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        let kind: RequestSequence<Held>.Kind
        switch part {
        case .head(let head):
            encoder.recordRequest(head)
            kind = .head
            timeouts?.clientOwesBody(true)
        case .body:
            kind = .body
        case .end:
            kind = .end
            timeouts?.clientOwesBody(false)
        }
        let action = withSequence { $0.received(kind, .part(part)) }
        if kind == .head, action == .none, sequence?.waitingForClient == true {
            // The head is complete; it waits for the client to read its answers. The
            // connection counts as idle (closed after `idle_timeout_ms` if the client never
            // reads), not as a head still arriving, which would answer 408 in the middle
            // of the answers already sent.
            timeouts?.awaitingNextHead()
        }
        run(action, .part(part), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let receiver, receiver.requestReadComplete() { return }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        run(withSequence { $0.received(.parseError, .error(error)) }, .error(error), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            if withSequence({ $0.quiesce() }) { closeWhenWritten(context: context, linger: true) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func read(context: ChannelHandlerContext) {
        if withSequence({ $0.readRequested() }) { readFromClient(context: context) }
    }

    /// Lets a read down to the socket: the client is waited on from now.
    private func readFromClient(context: ChannelHandlerContext) {
        timeouts?.readRequested()
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Held requests go on, then a withheld read (both in `deliverHeld`).
        let writable = context.channel.isWritable
        if withSequence({ $0.clientWritabilityChanged(writable) }) { deliverHeld(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        write(unwrapOutboundIn(data), context: context, promise: promise)
    }

    private func write(_ part: HTTPServerResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch part {
        case .head(var head) where head.status.code >= 200:
            responseInFlight = true
            if sequence?.responsesMustClose == true { head.headers.replaceOrAdd(name: "connection", value: "close") }
            encoder.write(.head(head), context: context, promise: promise)
            // An HTTP/1.0 client's body without a length ends at the close.
            if encoder.closesAfterResponse { withSequence { $0.closeAfterCurrentResponse() } }
        case .head, .body:
            encoder.write(part, context: context, promise: promise)
        case .end:
            responseInFlight = false
            switch withSequence({ $0.responseEnded() }) {
            case .write where sequence?.isHolding == true || delivering:
                // Rare (a pipelining client): held requests are handed on inside this
                // write, before its flush, so any close they cause waits for the write.
                let written = context.eventLoop.makePromise(of: Void.self)
                encoder.write(part, context: context, promise: written)
                written.futureResult.cascade(to: promise)
                lastEndWritten = written.futureResult
                deliverHeld(context: context)
            case .write:
                encoder.write(part, context: context, promise: promise)
            case .writeThenClose:
                let written = context.eventLoop.makePromise(of: Void.self)
                encoder.write(part, context: context, promise: written)
                written.futureResult.cascade(to: promise)
                close(context: context, after: written.futureResult, linger: sequence?.closeShouldLinger ?? true)
            }
        }
    }

    func flush(context: ChannelHandlerContext) {
        encoder.writeHeldHead(context: context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // Everything written before the close goes out first — a held head, a flush
        // deferred to the tick's end, and writes no flush was asked for yet (an upstream
        // answer that broke in the read that brought its head): NIO's close of the output
        // waits for pending writes, which nothing would flush, and a full close fails them,
        // leaving the client a connection closed with nothing on it.
        encoder.writeHeldHead(context: context)
        flushQueued = false
        context.flush()
        context.close(mode: mode, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Written to a closed channel, a held head's promise fails as any write's would.
        encoder.writeHeldHead(context: context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ownContext = nil
        receiver = nil
        encoder.writeHeldHead(context: context)
        flushIfQueued(context: context)
        // Leaving for a tunnel: whatever was held goes on in order (through the pipeline,
        // to whoever follows now), and a withheld read too.
        for held in withSequence({ $0.takeAllHeld() }) { fire(held, context: context) }
        if withSequence({ $0.takeWithheldRead() }) { context.read() }
    }

    private func run(_ action: RequestSequence<Held>.InboundAction, _ event: Held, context: ChannelHandlerContext) {
        switch action {
        case .deliver:
            fire(event, context: context)
        case .deliverThenClose:
            fire(event, context: context)
            close(context: context, after: lastEndWritten, linger: sequence?.closeShouldLinger ?? true)
        case .none:
            break
        }
    }

    /// Closes once `written` (a response's last part, not yet flushed) is out, as
    /// ``closeWhenWritten(context:linger:)`` does.
    private func close(context: ChannelHandlerContext, after written: EventLoopFuture<Void>?, linger: Bool) {
        guard let written else { return closeWhenWritten(context: context, linger: linger) }
        let bound = context.loopBound
        written.assumeIsolated().whenComplete { _ in self.closeWhenWritten(context: bound.value, linger: linger) }
    }

    /// Closes once everything written so far is out: the output side first (NIO writes
    /// what it still buffers, then sends the FIN), then the rest — when the client may
    /// have sent bytes not read yet, once it has closed or gone quiet (``LingeringClose``).
    /// A plain close drops the buffered bytes — answers a slow client has not taken yet,
    /// cut mid-answer — and so does the kernel when bytes the client sent are still
    /// unread. A client that never takes them is closed by the send-stall timeout
    /// (``ClientTimeoutHandler``).
    private func closeWhenWritten(context: ChannelHandlerContext, linger: Bool) {
        flushIfQueued(context: context)
        LingeringClose.closeWhenWritten(context, linger: linger)
    }

    private func fire(_ event: Held, context: ChannelHandlerContext) {
        guard !failed else { return }
        switch event {
        case .part(let part):
            if let receiver, receiver.requestPartArrived(part) { return }
            context.fireChannelRead(wrapInboundOut(part))
        case .error(let error as HTTPParserError): answer(error, context: context)
        case .error(let error): context.fireErrorCaught(error)
        }
    }

    /// Answers a request the decoder refused, then closes. Not passed on: the handlers
    /// after this one would close the connection before the answer is written; the close
    /// reaches them as inactive.
    private func answer(_ parserError: HTTPParserError, context: ChannelHandlerContext) {
        failed = true
        if parserError == .closedConnection {
            // Bytes after a request that asked to close (`Connection: close`, HTTP/1.0): that
            // request's answer was the last, and what follows is not processed, nor answered
            // (RFC 9112 §9.6) — a client resends it on a new connection. Closed once what was
            // written has gone, lingering over what else it sent, so the last answer is not cut.
            closeWhenWritten(context: context, linger: true)
            return
        }
        guard !responseInFlight else {
            context.close(promise: nil)
            return
        }
        let response: LocalResponse = parserError == .headerOverflow ? .headersTooLarge : .badRequest
        let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: response.headers(keepAlive: false))
        encoder.write(.head(head), context: context, promise: nil)
        var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
        body.writeString(response.body)
        encoder.write(.body(.byteBuffer(body)), context: context, promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        encoder.write(.end(nil), context: context, promise: written)
        context.flush()
        // What follows a malformed request is not read as one; it is read and dropped
        // until the client closes, so that the answer is not cut by a reset.
        close(context: context, after: written.futureResult, linger: true)
    }

    /// Hands on what the client pipelined behind the response that just ended, up to the
    /// end of the next request, then lets a withheld read through.
    private func deliverHeld(context: ChannelHandlerContext) {
        guard !delivering else { return }
        delivering = true
        defer {
            delivering = false
            lastEndWritten = nil
        }
        var delivered = false
        while let (event, action) = withSequence({ $0.nextHeld() }) {
            delivered = true
            run(action, event, context: context)
        }
        if delivered { channelReadComplete(context: context) }
        if withSequence({ $0.takeWithheldRead() }) { readFromClient(context: context) }
    }
}

extension RequestSequencer {
    /// Runs `body` on the sequence moved out (`take()`) and back. Why: its held events are
    /// in a buffer whose growth calls into the standard library, and an access to a
    /// class's stored property spanning such a call is checked at run time
    /// (`swift_beginAccess`, ~75 instructions, three per exchange here); moved, every
    /// access is a load or a store the whole-module optimizer proves exclusive
    /// (`Benchmarks/README.md`, twenty-first round). `body` only changes the value: what
    /// it decides is run after it is back.
    @inline(__always)
    private func withSequence<Result>(_ body: (inout RequestSequence<Held>) -> Result) -> Result {
        guard var sequence = self.sequence.take() else { preconditionFailure("request sequence re-entered") }
        let result = body(&sequence)
        self.sequence = consume sequence
        return result
    }
}

extension RequestSequencer: DecodedRequestReceiver {
    /// `channelRead(context:data:)` without the round trip through `NIOAny`: the request
    /// decoder sits right before this handler (``ProxyServer``'s pipeline).
    func decoded(_ part: HTTPServerRequestPart) -> Bool {
        guard let context = ownContext else { return false }
        received(part, context: context)
        return true
    }
}

/// Takes request parts from ``RequestSequencer`` by a direct call; `false` when it cannot
/// (it left the pipeline): the part then goes through the pipeline.
protocol RequestPartReceiver: AnyObject {
    func requestPartArrived(_ part: HTTPServerRequestPart) -> Bool
    func requestReadComplete() -> Bool
}

extension RequestSequencer: DeferredFlushing {
    func flushDeferred() {
        // Gone from the pipeline meanwhile: `handlerRemoved` flushed.
        guard let context = ownContext else { return }
        flushIfQueued(context: context)
    }
}
