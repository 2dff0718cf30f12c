import GatehouseAuth
import GatehouseCore
import Logging
import NIOCore
import NIOHTTP1

/// One client connection's requests, one at a time (`HTTPServerPipelineHandler` before it
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
    private enum State {
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

    private let runtime: ProxyRuntime
    private let settings: ProxySettings
    private let loop: LoopContext
    private let timeouts: HeadTimeoutHandler
    private let endpoints: LocalEndpoints
    private let logger: Logger

    private var state = State.idle
    private var context: ChannelHandlerContext?
    private var holdingReads = false
    private var pendingRead = false
    private var exchangeSerial = 0
    /// The app the current request was routed to (metrics, access log).
    private var currentApp: Int?
    /// The current request as the access log names it; `nil` when not sampled.
    private var accessEntry: AccessEntry?

    private struct AccessEntry {
        let method: String
        let path: String
        let started: NIODeadline
        var route = "local"
        var user: String?
        var requestID: String?
    }

    init(runtime: ProxyRuntime, settings: ProxySettings, loop: LoopContext, timeouts: HeadTimeoutHandler, endpoints: LocalEndpoints, logger: Logger) {
        self.runtime = runtime
        self.settings = settings
        self.loop = loop
        self.timeouts = timeouts
        self.endpoints = endpoints
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        runtime.metrics.connectionOpened()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: - Client events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
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
            exchange.buffered.append(part)
            if case .end = part { exchange.requestEnded = true }
        case .forwarding(let exchange):
            forwardRequestPart(part, exchange: exchange, context: context)
        case .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .forwarding(let exchange) = state, exchange.upstreamNeedsFlush {
            exchange.upstreamNeedsFlush = false
            exchange.lease?.channel.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        runtime.metrics.connectionClosed()
        switch state {
        case .pending(let exchange), .forwarding(let exchange):
            exchange.finish(.clientAbort)
            // The access log has one line per request, aborted ones too (499 as in the meter).
            logAccess(status: exchange.responseStarted ? exchange.status : 499)
            // Detach first: closing fires `upstreamClosed`, which must not answer (502) a
            // client that is gone, nor count an upstream failure.
            exchange.lease?.handler.owner = nil
            exchange.lease?.channel.close(promise: nil)
        default:
            break
        }
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Parse errors were answered by ProtocolErrorHandler; whatever the cause, the
        // connection is going away and no upstream connection may outlive it dirty.
        switch state {
        case .pending(let exchange), .forwarding(let exchange):
            // Finish and detach before closing: `upstreamClosed` would otherwise bill the
            // exchange as an upstream error and answer 502.
            exchange.finish(.clientAbort)
            logAccess(status: exchange.responseStarted ? exchange.status : 499)
            exchange.lease?.handler.owner = nil
            exchange.lease?.channel.close(promise: nil)
        default:
            break
        }
        state = .closed
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .forwarding(let exchange) = state, let lease = exchange.lease {
            if context.channel.isWritable { lease.handler.resumeReads() } else { lease.handler.holdReads() }
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if holdingReads {
            pendingRead = true
        } else {
            context.read()
        }
    }

    private func holdReads() {
        holdingReads = true
    }

    private func resumeReads(context: ChannelHandlerContext) {
        holdingReads = false
        if pendingRead {
            pendingRead = false
            context.read()
        }
    }

    // MARK: - Routing

    private func requestHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let hasBody = RequestHeadValidator.declaredLength(head) != 0
        var keepAlive = head.isKeepAlive
        // A request asking for a protocol switch leaves the decoder parsing nothing more;
        // it is served once, then the connection closes.
        if head.headers.contains(name: "upgrade") { keepAlive = false }

        if RequestHeadValidator.validate(head) != nil {
            return answer(.badRequest, keepAlive: false, requestComplete: !hasBody, context: context)
        }
        let target: RequestTarget
        switch PathNormalizer.normalize(head.uri) {
        case .success(let t): target = t
        case .failure: return answer(.badRequest, keepAlive: false, requestComplete: !hasBody, context: context)
        }
        currentApp = nil
        accessEntry = loop.sampleAccessLog(percent: settings.accessLogPercent)
            ? AccessEntry(method: head.method.rawValue, path: target.path, started: .now())
            : nil
        guard let app = runtime.app(forHost: head.headers.first(name: "host")) else {
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

        let peer = context.channel.remoteAddress
        let trusted = settings.isTrusted(peer)
        let requestID = UpstreamRequestBuilder.requestID(head.headers, peerTrusted: trusted, generated: loop.makeRequestID())
        let webSocket = UpstreamRequestBuilder.isWebSocketUpgrade(head)
        let inbound = UpstreamRequestBuilder.Inbound(
            head: head, target: target, peer: peer?.ipAddress, peerTrusted: trusted, requestID: requestID, webSocketUpgrade: webSocket
        )
        let expectContinue = head.headers.first(name: "expect")?.lowercased() == "100-continue"

        if PathNormalizer.path(target.path, isUnder: app.config.api.prefix) {
            let now = settings.clock()
            let arrival = Arrival(ms: Int64(now * 1000), started: .now())
            let step = APIGate.evaluate(app: app, headers: head.headers, cache: &loop.tokenCaches[app.index], now: now, eventLoop: context.eventLoop)
            switch step {
            case .accept(let identity, let token):
                if let token { app.users?.saw(token, now: now, on: context.eventLoop) }
                startAPIExchange(app: app, inbound: inbound, identity: identity, arrival: arrival, keepAlive: keepAlive, hasBody: hasBody, expectContinue: expectContinue, context: context)
            case .reject(let rejection):
                self.runtime.metrics.gateRejected(app: app.index, rejection)
                answer(.gate(rejection), keepAlive: keepAlive && !hasBody, requestComplete: !hasBody, context: context)
            case .waitForKeys(let future, let credential):
                let exchange = Exchange(serial: nextSerial(), app: app, isAPI: true, keepAlive: keepAlive, loop: loop)
                state = .pending(exchange)
                holdReads()
                future.assumeIsolated().whenComplete { [weak self] _ in
                    guard let self, let context = self.context, case .pending(let current) = self.state, current === exchange else { return }
                    let step = APIGate.afterRefetch(app: app, credential: credential, cache: &self.loop.tokenCaches[app.index], now: self.settings.clock(), eventLoop: context.eventLoop)
                    switch step {
                    case .accept(let identity, let token):
                        if let token { app.users?.saw(token, now: self.settings.clock(), on: context.eventLoop) }
                        self.state = .idle
                        self.startAPIExchange(app: app, inbound: inbound, identity: identity, arrival: arrival, keepAlive: keepAlive, hasBody: hasBody, expectContinue: expectContinue, context: context, carrying: exchange)
                    case .reject(let rejection):
                        self.runtime.metrics.gateRejected(app: app.index, rejection)
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

        var upstreamHead = UpstreamRequestBuilder.appRequest(inbound, upstream: app.config.upstream)
        accessEntry?.route = "app"
        accessEntry?.requestID = inbound.requestID
        let exchange = Exchange(serial: nextSerial(), app: app, isAPI: false, keepAlive: keepAlive, loop: loop)
        if !webSocket, HTMLResponseRewriter.mayInject(method: head.method, app: app.config) {
            // SPEC "HTML injection": the upstream is asked only for codings Gatehouse decodes.
            exchange.htmlRewriter = HTMLResponseRewriter(app: app.config)
            HTMLResponseRewriter.narrowAcceptEncoding(&upstreamHead.headers)
        }
        connect(exchange, endpoint: app.appEndpoint, head: upstreamHead, expectContinue: expectContinue, context: context)
    }

    /// Answers a local endpoint once its I/O completes (``LocalEndpoints/Match/asyncAnswer(_:)``),
    /// like the gate's JWKS wait: reads are held meanwhile and the request's parts are
    /// kept in a pending exchange; a connection that closed first gets nothing.
    private func answerLater(
        _ task: LocalEndpointTask, head: HTTPRequestHead, target: RequestTarget, app: AppRuntime, keepAlive: Bool, hasBody: Bool,
        context: ChannelHandlerContext
    ) {
        let exchange = Exchange(serial: nextSerial(), app: app, isAPI: false, keepAlive: keepAlive, loop: loop)
        state = .pending(exchange)
        holdReads()
        let endpointContext = LocalEndpointContext(head: head, target: target, loop: loop, eventLoop: context.eventLoop, now: settings.clock())
        task.run(endpointContext).hop(to: context.eventLoop).assumeIsolated().whenComplete { [weak self] result in
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

    private func startAPIExchange(
        app: AppRuntime, inbound: UpstreamRequestBuilder.Inbound, identity: GateIdentity, arrival: Arrival, keepAlive: Bool, hasBody: Bool,
        expectContinue: Bool, context: ChannelHandlerContext, carrying previous: Exchange? = nil
    ) {
        let requestComplete = previous?.requestEnded ?? !hasBody
        let endConsumed = previous?.requestEnded ?? false
        if !app.quota.isUnlimited, let wait = app.quota.admit(user: identity.id, now: settings.clock()) {
            runtime.metrics.gateRejected(app: app.index, .rateLimited(retryAfter: wait))
            return answer(.gate(.rateLimited(retryAfter: wait)), keepAlive: keepAlive && requestComplete, requestComplete: requestComplete,
                          endConsumed: endConsumed, context: context)
        }
        if let writer = loop.meterWriter, writer.isOverloaded {
            return answer(.meteringUnavailable, keepAlive: keepAlive && requestComplete, requestComplete: requestComplete,
                          endConsumed: endConsumed, context: context)
        }
        // Counted here, after the quota: a 429 is not an accepted call.
        runtime.metrics.gateAccepted(app: app.index)
        let declared = RequestHeadValidator.declaredLength(inbound.head)
        if let declared, declared > settings.maxAPIBodyBytes {
            return answer(.payloadTooLarge, keepAlive: false, requestComplete: false, context: context)
        }
        let upstreamHead = UpstreamRequestBuilder.apiRequest(
            inbound, app: app.config, ownerAuthorization: app.ownerAuthorization, extraHeaders: app.extraHeaders, user: identity.id
        )
        let exchange = Exchange(serial: nextSerial(), app: app, isAPI: true, keepAlive: keepAlive, loop: loop)
        exchange.bodyLimit = settings.maxAPIBodyBytes
        let upstreamPath = upstreamHead.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? upstreamHead.uri
        accessEntry?.route = "api"
        accessEntry?.user = identity.id
        accessEntry?.requestID = inbound.requestID
        exchange.meter = Exchange.MeterDraft(
            arrivedMs: arrival.ms, started: arrival.started, user: identity.id, method: inbound.head.method.rawValue,
            path: upstreamPath, requestID: inbound.requestID
        )
        if let previous {
            exchange.buffered = previous.buffered
            exchange.requestEnded = previous.requestEnded
        }
        connect(exchange, endpoint: app.apiEndpoint, head: upstreamHead, expectContinue: expectContinue, context: context)
    }

    private func nextSerial() -> Int {
        exchangeSerial &+= 1
        return exchangeSerial
    }

    // MARK: - Upstream exchange

    private func connect(_ exchange: Exchange, endpoint: UpstreamEndpoint, head: HTTPRequestHead, expectContinue: Bool, context: ChannelHandlerContext) {
        exchange.endpoint = endpoint
        exchange.upgradeRequested = head.headers.contains(name: "upgrade")
        state = .pending(exchange)
        holdReads()
        loop.pool.acquire(endpoint, connectTimeout: settings.upstreamConnectTimeout) { [weak self] result in
            guard let self, let context = self.context, case .pending(let current) = self.state, current === exchange else {
                if case .success(let lease) = result { lease.channel.close(promise: nil) }
                return
            }
            switch result {
            case .failure:
                self.runtime.metrics.upstreamFailed(app: exchange.app.index)
                self.resumeReads(context: context)
                exchange.finish(.upstreamError, status: 502)
                self.answer(.badGateway, keepAlive: exchange.keepAlive && exchange.requestEnded, requestComplete: exchange.requestEnded, endConsumed: exchange.requestEnded, context: context)
            case .success(let lease):
                self.attach(lease, exchange: exchange, head: head, expectContinue: expectContinue, context: context)
            }
        }
    }

    private func attach(_ lease: UpstreamConnectionPool.Lease, exchange: Exchange, head: HTTPRequestHead, expectContinue: Bool, context: ChannelHandlerContext) {
        exchange.lease = lease
        lease.handler.owner = self
        state = .forwarding(exchange)
        if expectContinue && !exchange.requestEnded {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        lease.channel.write(HTTPClientRequestPart.head(head), promise: nil)
        exchange.sentAt = .now()
        let buffered = exchange.buffered
        exchange.buffered = []
        // `requestEnded` marked that `.end` was *buffered*; it is forwarded only now, and
        // `forwardRequestPart` drops everything once the request has ended.
        if !buffered.isEmpty { exchange.requestEnded = false }
        for part in buffered {
            forwardRequestPart(part, exchange: exchange, context: context)
            guard case .forwarding = state else { return }
        }
        lease.channel.flush()
        exchange.upstreamNeedsFlush = false
        if exchange.requestEnded { armResponseTimer(exchange, context: context) }
        if lease.channel.isWritable { resumeReads(context: context) }
        if !context.channel.isWritable { lease.handler.holdReads() }
    }

    private func forwardRequestPart(_ part: HTTPServerRequestPart, exchange: Exchange, context: ChannelHandlerContext) {
        guard let lease = exchange.lease, !exchange.requestEnded else { return }
        switch part {
        case .head:
            return
        case .body(let buffer):
            exchange.requestBytes += buffer.readableBytes
            if let limit = exchange.bodyLimit, exchange.requestBytes > limit {
                abortForOversizedBody(exchange, context: context)
                return
            }
            lease.channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
            exchange.upstreamNeedsFlush = true
        case .end(let trailers):
            exchange.requestEnded = true
            if exchange.upgradeRequested { holdReads() }
            lease.channel.writeAndFlush(HTTPClientRequestPart.end(trailers), promise: nil)
            exchange.upstreamNeedsFlush = false
            if exchange.responseEnded {
                completeExchange(exchange, context: context)
                return
            }
            armResponseTimer(exchange, context: context)
        }
        if !lease.channel.isWritable { holdReads() }
    }

    private func abortForOversizedBody(_ exchange: Exchange, context: ChannelHandlerContext) {
        // Detach first: closing fires `upstreamClosed`, which must not answer (502) too.
        exchange.lease?.handler.owner = nil
        exchange.lease?.channel.close(promise: nil)
        exchange.lease = nil
        exchange.finish(.clientAbort, status: exchange.responseStarted ? nil : 413)
        if exchange.responseStarted {
            closeClient(context: context)
        } else {
            answer(.payloadTooLarge, keepAlive: false, requestComplete: false, context: context)
        }
    }

    private func armResponseTimer(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard !exchange.responseStarted, exchange.responseTimer == nil else { return }
        exchange.responseTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.upstreamResponseTimeout) { [weak self] in
            guard let self, let context = self.context, case .forwarding(let current) = self.state, current === exchange,
                  !exchange.responseStarted else { return }
            // Detach first: closing fires `upstreamClosed`, which would answer 502 before
            // this 504 — two responses to one request (HTTPServerPipelineHandler traps).
            exchange.lease?.handler.owner = nil
            exchange.lease?.channel.close(promise: nil)
            exchange.lease = nil
            exchange.finish(.upstreamError, status: 504)
            self.answer(.gatewayTimeout, keepAlive: exchange.keepAlive && exchange.requestEnded, requestComplete: exchange.requestEnded, endConsumed: exchange.requestEnded, context: context)
        }
    }

    /// Ends the exchange and, when given, writes the response's last part.
    ///
    /// The state settles *before* that write: writing a response's `.end` makes
    /// `HTTPServerPipelineHandler` hand over the next pipelined request from inside the
    /// write, and that request must find this handler idle (or closed), not still
    /// forwarding the last one.
    private func completeExchange(_ exchange: Exchange, context: ChannelHandlerContext, endOfResponse: HTTPServerResponsePart? = nil) {
        exchange.responseTimer?.cancel()
        guard case .forwarding(let current) = state, current === exchange else {
            if let endOfResponse { context.writeAndFlush(wrapOutboundOut(endOfResponse), promise: nil) }
            return
        }
        if let lease = exchange.lease, let endpoint = exchange.endpoint {
            exchange.lease = nil
            if exchange.requestEnded && exchange.upstreamKeepAlive {
                loop.pool.release(endpoint, lease: lease)
            } else {
                lease.channel.close(promise: nil)
            }
        }
        exchange.finish(.ok)
        if exchange.requestEnded && exchange.keepAlive {
            state = .idle
            resumeReads(context: context)
            timeouts.awaitingNextHead()
            if let endOfResponse { context.writeAndFlush(wrapOutboundOut(endOfResponse), promise: nil) }
        } else if let endOfResponse {
            state = .closed
            context.writeAndFlush(wrapOutboundOut(endOfResponse)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            closeClient(context: context)
        }
    }

    // MARK: - Local answers

    /// Writes a response Gatehouse decided itself. If the request's body has not been
    /// read (`requestComplete` false) the connection closes after it, so no byte of that
    /// body is taken for the next request (SPEC "Routing").
    ///
    /// `endConsumed`: the request's `.end` was already read (an exchange that failed after
    /// the whole request arrived), so a kept-alive connection is idle at once rather than
    /// waiting for an `.end` that will not come again.
    private func answer(_ response: LocalResponse, keepAlive: Bool, requestComplete: Bool, endConsumed: Bool = false, context: ChannelHandlerContext) {
        let keep = keepAlive && !response.closesConnection
        let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: response.headers(keepAlive: keep))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let body = response.body
        if !body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        runtime.metrics.response(app: currentApp, route: .local, status: response.status.code)
        logAccess(status: response.status.code)
        // Settle before writing `.end`, which may hand over the next pipelined request
        // at once (see `completeExchange`).
        if !keep {
            state = .closed
        } else if endConsumed {
            state = .idle
            timeouts.awaitingNextHead()
        } else if requestComplete {
            state = .answered(keepAlive: true)
            // `.end` for a body-less request follows the head in the same read; the
            // state flips back to idle when it arrives.
        } else {
            state = .answered(keepAlive: false)
        }
        resumeReads(context: context)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keep {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    private func requestEndedAfterLocalAnswer(keepAlive: Bool, context: ChannelHandlerContext) {
        if keepAlive {
            state = .idle
            timeouts.awaitingNextHead()
        } else {
            closeClient(context: context)
        }
    }

    /// One access-log line (SPEC issue 3: off by default or sampled). Never the query
    /// string, a header or a token: only what identifies the request and its result.
    private func logAccess(status: UInt) {
        guard let entry = accessEntry else { return }
        accessEntry = nil
        var metadata: Logger.Metadata = [
            "method": "\(entry.method)", "path": "\(entry.path)", "status": "\(status)", "route": "\(entry.route)",
            "duration_ms": "\(Double((NIODeadline.now() - entry.started).nanoseconds / 100_000) / 10)",
        ]
        if let app = currentApp { metadata["app"] = "\(runtime.apps[app].config.id)" }
        if let user = entry.user { metadata["user"] = "\(user)" }
        if let id = entry.requestID { metadata["request_id"] = "\(id)" }
        logger.info("request", metadata: metadata)
    }

    private func closeClient(context: ChannelHandlerContext) {
        state = .closed
        context.close(promise: nil)
    }
}

// MARK: - Upstream events

extension ProxyHandler: UpstreamHandlerDelegate {
    func upstreamRead(_ part: HTTPClientResponsePart) {
        guard let context, case .forwarding(let exchange) = state else { return }
        switch part {
        case .head(let upstreamHead):
            if let sentAt = exchange.sentAt {
                runtime.metrics.upstreamResponded(app: exchange.app.index, isAPI: exchange.isAPI, after: .now() - sentAt)
            }
            exchange.responseTimer?.cancel()
            exchange.responseTimer = nil
            exchange.responseStarted = true
            exchange.status = upstreamHead.status.code
            exchange.upstreamKeepAlive = upstreamHead.isKeepAlive
            var headers = upstreamHead.headers
            let upgradeTo = headers.first(name: "upgrade")
            HeaderHygiene.cleanResponse(&headers)
            if upstreamHead.status == .switchingProtocols {
                guard exchange.upgradeRequested, upgradeTo?.lowercased() == "websocket" else {
                    // A switch nobody asked for (or to anything but WebSocket) is refused.
                    upstreamBroke(exchange, context: context)
                    return
                }
                exchange.switchingProtocols = true
                headers.add(name: "Connection", value: "Upgrade")
                headers.add(name: "Upgrade", value: "websocket")
            } else if !exchange.keepAlive {
                headers.add(name: "Connection", value: "close")
            }
            let head = HTTPResponseHead(version: .http1_1, status: upstreamHead.status, headers: headers)
            if let rewriter = exchange.htmlRewriter {
                // An injectable HTML response's head waits until the injector has decided.
                if rewriter.responseHead(head) { return }
                if head.status.code >= 200 { exchange.htmlRewriter = nil }
            }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
        case .body(let buffer):
            exchange.responseBytes += buffer.readableBytes
            if let rewriter = exchange.htmlRewriter {
                do {
                    writeRewritten(try rewriter.bodyReceived(buffer), context: context)
                } catch {
                    return upstreamBroke(exchange, context: context)
                }
            } else {
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            if !context.channel.isWritable { exchange.lease?.handler.holdReads() }
        case .end(let trailers):
            if let rewriter = exchange.htmlRewriter {
                do {
                    writeRewritten(try rewriter.bodyEnded(), context: context)
                } catch {
                    return upstreamBroke(exchange, context: context)
                }
            }
            exchange.responseEnded = true
            runtime.metrics.response(app: exchange.app.index, route: exchange.isAPI ? .api : .app, status: exchange.status)
            logAccess(status: exchange.status)
            if exchange.switchingProtocols {
                context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
                engageTunnel(exchange, context: context)
                return
            }
            if !exchange.requestEnded {
                // The upstream answered before the request body ended: the connection
                // cannot be reused on either side.
                exchange.upstreamKeepAlive = false
                exchange.keepAlive = false
            }
            completeExchange(exchange, context: context, endOfResponse: .end(trailers))
        }
    }

    /// After the upstream's `101`: the exchange becomes a byte tunnel (SPEC "Routing":
    /// `Upgrade` is tunnelled only after the upstream's 101). The upstream connection
    /// belongs to the tunnel from now on and never returns to the pool.
    private func engageTunnel(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let lease = exchange.lease else { return }
        exchange.lease = nil
        exchange.finish(.ok)
        lease.handler.owner = nil
        state = .closed
        do {
            try TunnelSwitch.engage(client: context.channel, upstream: lease.channel, proxyHandler: self, upstreamHandler: lease.handler)
        } catch {
            lease.channel.close(promise: nil)
            context.close(promise: nil)
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamClosed() {
        guard let context, case .forwarding(let exchange) = state, !exchange.responseEnded else { return }
        upstreamBroke(exchange, context: context)
    }

    func upstreamFailed(_ error: Error) {
        guard let context, case .forwarding(let exchange) = state, !exchange.responseEnded else { return }
        logger.debug("upstream connection failed", metadata: ["error": "\(error)"])
        upstreamBroke(exchange, context: context)
    }

    private func upstreamBroke(_ exchange: Exchange, context: ChannelHandlerContext) {
        exchange.responseTimer?.cancel()
        exchange.lease?.handler.owner = nil
        exchange.lease?.channel.close(promise: nil)
        exchange.lease = nil
        exchange.finish(.upstreamError, status: exchange.responseStarted ? nil : 502)
        runtime.metrics.upstreamFailed(app: exchange.app.index)
        if exchange.responseStarted {
            logAccess(status: exchange.status)
            closeClient(context: context)
        } else {
            answer(.badGateway, keepAlive: exchange.keepAlive && exchange.requestEnded, requestComplete: exchange.requestEnded, endConsumed: exchange.requestEnded, context: context)
        }
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        guard let context, case .forwarding = state else { return }
        if isWritable { resumeReads(context: context) } else { holdReads() }
    }
}


