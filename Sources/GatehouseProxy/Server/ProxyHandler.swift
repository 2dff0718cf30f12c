import GatehouseAuth
import GatehouseCore
import GatehouseMetering
import Logging
import NIOCore
import NIOHTTP1

/// One client connection's requests, one at a time (`RequestSequencer` before it
/// holds pipelined requests back): route, gate, then either answer locally or stream the
/// exchange to an upstream connection taken from this loop's pool.
///
/// Backpressure both ways, as swift-nio-examples' GlueHandler does it: reads from the
/// client are withheld while the upstream is not writable, and reads from the upstream
/// while the client is not. Every callback runs on the connection's event loop; the
/// upstream connection lives on the same loop, so nothing here hops threads or locks.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Where the current request is.
    enum State {
        /// Waiting for the next request head.
        case idle
        /// Answered locally; waiting for the request's `.end` (or closing).
        case answered(keepAlive: Bool)
        /// Collecting a small body for an endpoint Gatehouse serves itself.
        case collecting(LocalEndpointRequest)
        /// Waiting for something before the upstream can be used (JWKS refetch, connect).
        case pending(Exchange)
        /// Streaming to and from the upstream.
        case forwarding(Exchange)
        case closed
    }

    /// The loop's snapshot as of the current request's head (see ``LoopContext/runtime``).
    var runtime: ProxyRuntime
    var settings: ProxySettings
    /// Which of the loop's snapshots ``runtime`` and ``settings`` are (``LoopContext/snapshot``).
    private var snapshot: Int
    let loop: LoopContext
    /// The loop's objects a request calls into, held here as well: a method called on a
    /// `let` of this handler's own is called as it is, while one reached through another
    /// object's `let` (`loop.metrics`) was retained and released around every call, the
    /// optimizer not carrying the guarantee two levels down (~16 atomic operations per
    /// `/_api` request).
    let metrics: LoopMetrics
    let pool: UpstreamConnectionPool
    let headBuffers: HeadBufferRecycler
    let meterWriter: MeterWriter?
    let timeouts: ClientTimeoutHandler
    let endpoints: LocalEndpoints
    let logger: Logger

    var state = State.idle
    /// See ``connectionPeer(_:)``.
    var peer: Peer?
    /// Between a client part's arrival and the end of that read: the upstream is flushed
    /// once then, not per part forwarded.
    var inClientRead = false
    /// The connection's one upstream-timeout timer and when it fires (see
    /// ``refreshUpstreamDeadline(_:progressed:context:)``).
    var upstreamTimer: Scheduled<Void>?
    var upstreamTimerAt: NIODeadline?

    struct Peer {
        var ip: String?
        var bytes: [UInt8]?
    }
    var context: ChannelHandlerContext?
    var holdingReads = false
    var pendingRead = false
    var exchangeSerial = 0
    /// The app the current request was routed to (metrics, access log).
    var currentApp: Int?
    /// A `HEAD` request: local answers send their headers only.
    var currentRequestIsHead = false
    /// The current request as the access log names it; `nil` when not sampled. Filled in
    /// taken out (`take()`) and put back: changed in place, the old strings' releases inside
    /// the access made every access to it checked at run time (`swift_beginAccess`).
    var accessEntry: AccessEntry?

    struct AccessEntry {
        let method: String
        let path: String
        let started: NIODeadline
        var route = "local"
        var user: String?
        var requestID: RequestID?
    }

    /// The handler right before this one, which response parts, flushes and reads are
    /// handed to by a direct call (``RequestSequencer/writeResponse(_:promise:)``); `nil`
    /// in a pipeline built otherwise, where they go through the context.
    let sequencer: RequestSequencer?

    /// - Parameter sequencer: the handler added right before this one, if it is a
    ///   ``RequestSequencer``. Nothing may come between them.
    init(loop: LoopContext, timeouts: ClientTimeoutHandler, endpoints: LocalEndpoints, logger: Logger, sequencer: RequestSequencer? = nil) {
        self.runtime = loop.runtime
        self.settings = loop.settings
        self.snapshot = loop.snapshot
        self.loop = loop
        self.metrics = loop.metrics
        self.pool = loop.pool
        self.headBuffers = loop.headBuffers
        self.meterWriter = loop.meterWriter
        self.timeouts = timeouts
        self.endpoints = endpoints
        self.logger = logger
        self.sequencer = sequencer
    }

    /// Writes a response part towards the client.
    func send(_ part: HTTPServerResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        // Optional chaining, not `if let`: binding a `let` property copies it (a retain and
        // a release around the call); chaining calls through it as it is.
        if sequencer?.writeResponse(part, promise: promise) == true { return }
        context.write(wrapOutboundOut(part), promise: promise)
    }

    /// Writes a response part and flushes.
    func sendAndFlush(_ part: HTTPServerResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        send(part, context: context, promise: promise)
        flushResponses(context: context)
    }

    /// ``sendAndFlush(_:context:promise:)``, then closes the connection once the part is
    /// written. `requestRead`: the request was read to its end (the client asked for the
    /// close). Otherwise — 413 to a body still arriving, a 401 whose body was not read —
    /// the client's bytes are unread, a plain close would have the kernel reset the
    /// connection, which can take the answer with it before the client reads it, and the
    /// close lingers (``LingeringClose``).
    func sendAndFlushThenClose(_ part: HTTPServerResponsePart, requestRead: Bool, context: ChannelHandlerContext) {
        let written = context.eventLoop.makePromise(of: Void.self)
        sendAndFlush(part, context: context, promise: written)
        written.futureResult.assumeIsolated().whenComplete { result in
            switch result {
            case .success: LingeringClose.closeWhenWritten(context, linger: !requestRead)
            case .failure: context.close(promise: nil)
            }
        }
    }

    func flushResponses(context: ChannelHandlerContext) {
        if sequencer?.flushResponses() == true { return }
        context.flush()
    }

    /// Lets a read go on towards the socket.
    private func readFromClient(context: ChannelHandlerContext) {
        if sequencer?.readRequests() == true { return }
        context.read()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        sequencer?.receiver = self
        metrics.connectionOpened()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        sequencer?.receiver = nil
        // The timer's task holds this handler (see `scheduleUpstreamTimer`).
        upstreamTimer?.cancel()
        upstreamTimer = nil
        upstreamTimerAt = nil
    }

    // MARK: - Client events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received(unwrapInboundIn(data), context: context)
    }

    private func received(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        inClientRead = true
        switch state {
        case .idle:
            guard case .head(let head) = part else { return }
            timeouts.headReceived()
            requestHead(head, context: context)
        case .answered(let keepAlive):
            if case .end = part { requestEndedAfterLocalAnswer(keepAlive: keepAlive, context: context) }
        case .collecting(var request):
            switch part {
            case .head: break
            case .body(var chunk):
                if request.body.readableBytes + chunk.readableBytes > LocalEndpoints.maxBodyBytes {
                    answer(.payloadTooLarge, keepAlive: false, requestComplete: false, context: context)
                    return
                }
                request.body.writeBuffer(&chunk)
                state = .collecting(request)
            case .end:
                let response = endpoints.respond(to: request, now: settings.clock())
                state = .idle
                // `.end` is this very part: a kept-alive connection is idle at once.
                answer(response, keepAlive: request.keepAlive, requestComplete: true, endConsumed: true, context: context)
            }
        case .pending(let exchange):
            exchange.buffer(part)
            if case .end = part { exchange.requestEnded = true }
        case .forwarding(let exchange):
            forwardRequestPart(part, exchange: exchange, context: context)
        case .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inClientRead = false
        if case .forwarding(let exchange) = state, exchange.upstreamNeedsFlush {
            exchange.upstreamNeedsFlush = false
            exchange.lease?.handler.flush()
        }
        // Not passed on: this is the pipeline's last handler (``ProxyServer/configureConnection(_:loop:logger:)``),
        // and the tail discards a read's end — one trip through the pipeline less per request.
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstreamTimer?.cancel()
        upstreamTimer = nil
        metrics.connectionClosed()
        abandonExchange()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Parse errors were answered by RequestSequencer; whatever the cause, the
        // connection is going away and no upstream connection may outlive it dirty.
        abandonExchange()
        context.close(promise: nil)
    }

    /// The client is gone: the exchange in flight is billed as `client_abort`, logged
    /// (499 when no response began, as in the meter), and its upstream connection
    /// detached, then closed. Detached first: closing fires `upstreamClosed`, which must
    /// neither answer 502 to nobody nor bill an upstream error.
    private func abandonExchange() {
        switch state {
        case .pending(let exchange), .forwarding(let exchange):
            exchange.finish(.clientAbort)
            logAccess(status: exchange.clientResponseStarted ? exchange.status : 499)
            exchange.dropUpstream()
        default:
            break
        }
        state = .closed
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .forwarding(let exchange) = state, let lease = exchange.lease {
            if context.channel.isWritable { lease.handler.resumeReads() } else { lease.handler.holdReads() }
            refreshUpstreamDeadline(exchange, progressed: false, context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if holdingReads {
            pendingRead = true
        } else {
            readFromClient(context: context)
        }
    }

    func holdReads() {
        holdingReads = true
    }

    func resumeReads(context: ChannelHandlerContext) {
        holdingReads = false
        if pendingRead {
            pendingRead = false
            readFromClient(context: context)
        }
    }

    /// The client's address, read and formatted once per connection (the channel's
    /// address cache takes a lock, and formatting allocates).
    func connectionPeer(_ context: ChannelHandlerContext) -> Peer {
        if let peer { return peer }
        let address = context.channel.remoteAddress
        let peer = Peer(ip: address?.ipAddress, bytes: address?.ipBytes)
        self.peer = peer
        return peer
    }

    // MARK: - Routing

    /// The request as the upstream request is built from: its head, target, peer, and
    /// request id (the client's `X-Request-Id` from a trusted peer, else a new one).
    private func makeInbound(
        _ head: HTTPRequestHead, target: RequestTarget, facts: RequestHeadValidator.Inspection, webSocket: Bool, context: ChannelHandlerContext
    ) -> UpstreamRequestBuilder.Inbound {
        let peer = connectionPeer(context)
        // Asked only when proxies are trusted at all: the call copied the whole settings
        // value (its list and clock retained and released) for every request.
        let trusted = !settings.trustedProxies.isEmpty && settings.isTrusted(ipBytes: peer.bytes)
        let requestID = UpstreamRequestBuilder.requestID(head.headers, peerTrusted: trusted, generated: loop.makeRequestID())
        return UpstreamRequestBuilder.Inbound(
            head: head, target: target, peer: peer.ip, peerTrusted: trusted, requestID: requestID, webSocketUpgrade: webSocket,
            inspection: facts
        )
    }

    func requestHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        // Idle between requests: nothing of the previous exchange is left, so the request
        // may start on a newer snapshot (SIGHUP reload).
        if snapshot != loop.snapshot {
            runtime = loop.runtime
            settings = loop.settings
            snapshot = loop.snapshot
        }
        currentRequestIsHead = head.method.isHEAD
        let facts = RequestHeadValidator.inspect(head)
        let hasBody = facts.declaredLength != 0
        var keepAlive = facts.keepsAlive(head.version)
        // A request asking for a protocol switch leaves the decoder parsing nothing more;
        // it is served once, then the connection closes.
        if facts.hasUpgrade { keepAlive = false }

        if facts.violation != nil {
            return answer(.badRequest, keepAlive: false, requestComplete: !hasBody, context: context)
        }
        let target: RequestTarget
        switch PathNormalizer.normalize(head.uri) {
        case .success(let t): target = t
        case .failure: return answer(.badRequest, keepAlive: false, requestComplete: !hasBody, context: context)
        }
        currentApp = nil
        // Tested before it is written or taken: an `AccessEntry?` replaced or taken out is
        // destroyed through the generic `Optional` value witness even when it is `nil`
        // (~60 instructions each, three per request with the log off).
        if loop.sampleAccessLog(percent: settings.accessLogPercent) {
            accessEntry = AccessEntry(method: head.method.rawValue, path: target.path, started: .now())
        } else if accessEntry != nil {
            accessEntry = nil
        }
        guard let app = runtime.app(forHost: facts.host) else {
            return answer(.notFound, keepAlive: keepAlive && !hasBody, requestComplete: !hasBody, context: context)
        }
        currentApp = app.index

        if let endpoint = endpoints.match(target.path, method: head.method, headers: head.headers, app: app) {
            switch endpoint {
            case .answer(let response):
                return answer(response, keepAlive: keepAlive && !hasBody, requestComplete: !hasBody, context: context)
            case .collectBody(let request):
                var request = request
                request.keepAlive = keepAlive
                request.body = context.channel.allocator.buffer(capacity: 0)
                state = .collecting(request)
                return
            case .asyncAnswer(let task):
                return answerLater(task, head: head, target: target, app: app, keepAlive: keepAlive, hasBody: hasBody, context: context)
            }
        }

        let webSocket = facts.hasUpgrade && UpstreamRequestBuilder.isWebSocketUpgrade(head)
        let expectContinue = facts.expect?.lowercased() == "100-continue"

        if PathNormalizer.path(target.path, isUnder: app.config.api.prefix) {
            let now = settings.clock()
            let arrival = Arrival(ms: Int64(now * 1000), started: .now())
            // The closure is given the two fields it reads, not the head and the inspection
            // to read them from: capturing those copied both whole (eight reference counts,
            // and the inspection destroyed twice, per request).
            let authorization = facts.authorization
            let headers = head.headers
            let eventLoop = context.eventLoop
            let step = loop.withTokenCache(for: app) { APIGate.evaluate(
                app: app, headers: headers, authorization: authorization, cache: &$0, now: now, eventLoop: eventLoop
            ) }
            switch step {
            case .accept(let identity, let token, let sightingDue):
                if let token, sightingDue { app.users?.saw(token, now: now, on: context.eventLoop) }
                let inbound = makeInbound(head, target: target, facts: facts, webSocket: webSocket, context: context)
                startAPIExchange(app: app, inbound: inbound, identity: identity, arrival: arrival, keepAlive: keepAlive, hasBody: hasBody, expectContinue: expectContinue, context: context)
            case .reject(let rejection):
                // Nothing of the upstream request is made for a rejected one (its request
                // id, the `Inbound`): the cheapest answer goes to the commonest attack.
                self.metrics.gateRejected(slot: app.metricSlot, rejection)
                answer(.gate(rejection), keepAlive: keepAlive && !hasBody, requestComplete: !hasBody, context: context)
            case .waitForKeys(let future, let credential):
                let inbound = makeInbound(head, target: target, facts: facts, webSocket: webSocket, context: context)
                let exchange = Exchange(serial: nextSerial(), app: app, isAPI: true, keepAlive: keepAlive, loop: loop)
                state = .pending(exchange)
                holdReads()
                future.assumeIsolated().whenComplete { [weak self] _ in
                    guard let self, let context = self.context, case .pending(let current) = self.state, current === exchange else { return }
                    let now = self.settings.clock()
                    let step = self.loop.withTokenCache(for: app) { APIGate.afterRefetch(app: app, credential: credential, cache: &$0, now: now, eventLoop: context.eventLoop) }
                    switch step {
                    case .accept(let identity, let token, let sightingDue):
                        if let token, sightingDue { app.users?.saw(token, now: self.settings.clock(), on: context.eventLoop) }
                        self.state = .idle
                        self.startAPIExchange(app: app, inbound: inbound, identity: identity, arrival: arrival, keepAlive: keepAlive, hasBody: hasBody, expectContinue: expectContinue, context: context, carrying: exchange)
                    case .reject(let rejection):
                        self.metrics.gateRejected(slot: app.metricSlot, rejection)
                        self.resumeReads(context: context)
                        self.answer(.gate(rejection), keepAlive: keepAlive && !hasBody, requestComplete: exchange.requestEnded || !hasBody, endConsumed: exchange.requestEnded, context: context)
                    case .waitForKeys:
                        self.resumeReads(context: context)
                        self.answer(.gate(.authUnavailable(retryAfter: 1)), keepAlive: false, requestComplete: exchange.requestEnded, endConsumed: exchange.requestEnded, context: context)
                    }
                }
            }
            return
        }

        let inbound = makeInbound(head, target: target, facts: facts, webSocket: webSocket, context: context)
        if accessEntry != nil, var entry = accessEntry.take() {
            entry.route = "app"
            entry.requestID = inbound.requestID
            accessEntry = entry
        }
        let exchange = Exchange(serial: nextSerial(), app: app, isAPI: false, keepAlive: keepAlive, loop: loop)
        // SPEC "HTML injection": the upstream is asked only for codings Gatehouse decodes.
        let injects = !webSocket && HTMLResponseRewriter.mayInject(method: head.method, inject: app.config.inject)
        if injects { exchange.htmlRewriter = HTMLResponseRewriter(snippet: app.injectionSnippet, nonces: loop.randomBytes) }
        let request = UpstreamRequestBuilder.appRequest(
            inbound, upstream: app.config.upstream, narrowAcceptEncoding: injects, into: headBuffers.take()
        )
        // The app route passes `Upgrade` only for a WebSocket upgrade (hop-by-hop otherwise).
        connect(exchange, endpoint: app.appEndpoint, request: request, upgradeRequested: webSocket, expectContinue: expectContinue, context: context)
    }

    /// Answers a local endpoint that may need I/O (``LocalEndpoints/Match/asyncAnswer(_:)``):
    /// at once when its task has nothing to wait for; else once the I/O completes, like
    /// the gate's JWKS wait: reads are held meanwhile and the request's parts are kept in a
    /// pending exchange; a connection that closed first gets nothing.
    func answerLater(
        _ task: LocalEndpointTask, head: HTTPRequestHead, target: RequestTarget, app: AppRuntime, keepAlive: Bool, hasBody: Bool,
        context: ChannelHandlerContext
    ) {
        let endpointContext = LocalEndpointContext(head: head, target: target, loop: loop, eventLoop: context.eventLoop, now: settings.clock())
        let later: EventLoopFuture<LocalResponse>
        switch task.run(endpointContext) {
        case .now(let response):
            return answer(response, keepAlive: keepAlive && !hasBody, requestComplete: !hasBody, context: context)
        case .later(let future):
            later = future
        }
        let exchange = Exchange(serial: nextSerial(), app: app, isAPI: false, keepAlive: keepAlive, loop: loop)
        state = .pending(exchange)
        holdReads()
        later.hop(to: context.eventLoop).assumeIsolated().whenComplete { [weak self] result in
            guard let self, let context = self.context, case .pending(let current) = self.state, current === exchange else { return }
            let response: LocalResponse
            switch result {
            case .success(let answered): response = answered
            case .failure: response = .json(.internalServerError, #"{"error":"internal"}"#)
            }
            self.resumeReads(context: context)
            self.answer(response, keepAlive: keepAlive && !hasBody, requestComplete: exchange.requestEnded || !hasBody,
                        endConsumed: exchange.requestEnded, context: context)
        }
    }

    /// When an `/_api` request arrived: its meter record's `ts` and duration start.
    struct Arrival {
        let ms: Int64
        let started: NIODeadline
    }

    func startAPIExchange(
        app: AppRuntime, inbound: UpstreamRequestBuilder.Inbound, identity: GateIdentity, arrival: Arrival, keepAlive: Bool, hasBody: Bool,
        expectContinue: Bool, context: ChannelHandlerContext, carrying previous: Exchange? = nil
    ) {
        let requestComplete = previous?.requestEnded ?? !hasBody
        let endConsumed = previous?.requestEnded ?? false
        if !app.quota.isUnlimited, let wait = app.quota.admit(user: identity.id, now: settings.clock()) {
            metrics.gateRejected(slot: app.metricSlot, .rateLimited(retryAfter: wait))
            return answer(.gate(.rateLimited(retryAfter: wait)), keepAlive: keepAlive && requestComplete, requestComplete: requestComplete,
                          endConsumed: endConsumed, context: context)
        }
        if meterWriter?.isOverloaded == true {
            return answer(.meteringUnavailable, keepAlive: keepAlive && requestComplete, requestComplete: requestComplete,
                          endConsumed: endConsumed, context: context)
        }
        // Counted here, after the quota: a 429 is not an accepted call.
        metrics.gateAccepted(slot: app.metricSlot)
        let declared = inbound.declaredLength
        if let declared, declared > settings.maxAPIBodyBytes {
            return answer(.payloadTooLarge, keepAlive: false, requestComplete: false, context: context)
        }
        let request = UpstreamRequestBuilder.apiRequest(
            inbound, app: app.config, rewrite: app.apiRewrite, user: identity.id, into: headBuffers.take()
        )
        let exchange = Exchange(serial: nextSerial(), app: app, isAPI: true, keepAlive: keepAlive, loop: loop)
        exchange.bodyLimit = settings.maxAPIBodyBytes
        // The meter's path is the upstream target without its query; with no query (neither
        // the base path nor a normalised path holds a `?`) that is the whole target, unscanned.
        let upstreamPath = inbound.target.query == nil
            ? request.uri
            : request.uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(request.uri[..<$0]) } ?? request.uri
        if accessEntry != nil, var entry = accessEntry.take() {
            entry.route = "api"
            entry.user = identity.id
            entry.requestID = inbound.requestID
            accessEntry = entry
        }
        exchange.meter = Exchange.MeterDraft(
            arrivedMs: arrival.ms, started: arrival.started, user: identity.id, method: inbound.head.method.rawValue,
            path: upstreamPath, requestID: inbound.requestID
        )
        if let previous {
            exchange.buffered = previous.buffered
            exchange.requestEnded = previous.requestEnded
        }
        connect(
            exchange, endpoint: app.apiEndpoint, request: request, upgradeRequested: inbound.webSocketUpgrade || app.apiRewrite.setsUpgrade,
            expectContinue: expectContinue, context: context
        )
    }

    func nextSerial() -> Int {
        exchangeSerial &+= 1
        return exchangeSerial
    }

}

extension ProxyHandler: RequestPartReceiver {
    /// ``RequestSequencer``'s direct hand-over: `channelRead` without the `NIOAny`.
    func requestPartArrived(_ part: HTTPServerRequestPart) -> Bool {
        guard let context else { return false }
        received(part, context: context)
        return true
    }

    func requestReadComplete() -> Bool {
        guard let context else { return false }
        channelReadComplete(context: context)
        return true
    }
}
