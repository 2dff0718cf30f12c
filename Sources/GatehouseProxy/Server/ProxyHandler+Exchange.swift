import GatehouseAuth
import GatehouseCore
import Logging
import NIOCore
import NIOHTTP1

/// The upstream half of ``ProxyHandler``: connecting from this loop's pool, streaming the
/// request and response with backpressure, and ending the exchange. Same event loop.
extension ProxyHandler {
    // MARK: - Upstream exchange

    /// - Parameter upgradeRequested: whether `head` carries `Upgrade` (a WebSocket
    ///   upgrade passed on, or an `Upgrade` the API route's `extra_headers` set): only
    ///   then may the upstream switch protocols. Known from how the head was built, so
    ///   its fields are not walked again.
    func connect(
        _ exchange: Exchange, endpoint: UpstreamEndpoint, request: consuming UpstreamRequest, upgradeRequested: Bool, expectContinue: Bool,
        context: ChannelHandlerContext
    ) {
        exchange.endpoint = endpoint
        exchange.upgradeRequested = upgradeRequested
        state = .pending(exchange)
        if let lease = pool.takeIdle(endpoint) {
            attach(lease, exchange: exchange, request: request, expectContinue: expectContinue, context: context)
            return
        }
        let request = copy request
        holdReads()
        // `self` held strongly until the connect ends (bounded by its timeout): see
        // ``scheduleUpstreamTimer(at:context:)`` for why not `weak`.
        pool.connect(endpoint, connectTimeout: settings.upstreamConnectTimeout) { [self] result in
            guard let context = self.context, case .pending(let current) = self.state, current === exchange else {
                if case .success(let lease) = result { lease.close() }
                return
            }
            switch result {
            case .failure(let error):
                self.logger.debug("upstream connect failed", metadata: ["error": "\(error)"])
                self.metrics.upstreamFailed(slot: exchange.app.metricSlot)
                self.resumeReads(context: context)
                exchange.finish(.upstreamError, status: 502)
                self.answer(.badGateway, keepAlive: exchange.keepAlive && exchange.requestEnded, requestComplete: exchange.requestEnded, endConsumed: exchange.requestEnded, context: context)
            case .success(let lease):
                self.attach(lease, exchange: exchange, request: request, expectContinue: expectContinue, context: context)
            }
        }
    }

    /// `request` is taken (`consuming`): kept for a replay, it moves into the exchange
    /// rather than being copied (a retain of each of its three references).
    func attach(_ lease: UpstreamConnectionPool.Lease, exchange: Exchange, request: consuming UpstreamRequest, expectContinue: Bool, context: ChannelHandlerContext) {
        exchange.lease = lease
        lease.handler.owner = self
        state = .forwarding(exchange)
        if expectContinue && !exchange.requestEnded {
            sendAndFlush(.head(HTTPResponseHead(version: .http1_1, status: .continue)), context: context)
        }
        if lease.reused && !exchange.replayed && Self.mayReplay(request) {
            lease.handler.write(request, recycle: false)
            exchange.replay = consume request
        } else {
            lease.handler.write(request)
        }
        exchange.upstreamNeedsFlush = true
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
        // Within the client's read (an idle connection was at hand) the rest of the
        // request is likely in the same read: one flush for all of it, at the read's end
        // (`channelReadComplete`). A request that waited for a new connection goes now.
        if exchange.upstreamNeedsFlush && !inClientRead {
            lease.handler.flush()
            exchange.upstreamNeedsFlush = false
        }
        if lease.channel.isWritable { resumeReads(context: context) }
        if !context.channel.isWritable { lease.handler.holdReads() }
        refreshUpstreamDeadline(exchange, progressed: true, context: context)
    }

    func forwardRequestPart(_ part: HTTPServerRequestPart, exchange: Exchange, context: ChannelHandlerContext) {
        guard let lease = exchange.lease, !exchange.requestEnded, !exchange.bodyDropped else { return }
        switch part {
        case .head:
            return
        case .body(let buffer):
            exchange.requestBytes += buffer.readableBytes
            if let limit = exchange.bodyLimit, exchange.requestBytes > limit {
                guard exchange.clientResponseStarted else { return abortForOversizedBody(exchange, context: context) }
                // The upstream answered before the body was in: the rest is dropped, and
                // its answer finishes (its head said the connection closes after it). Cut,
                // with the client's upload unread, the close reset the connection and the
                // client lost the answer. The upstream is told no more is coming by the end
                // of its input (never by a last chunk, which would pass a cut body as
                // whole): one that finishes its answer only after the body is not left
                // waiting for the rest until the response timeout.
                exchange.requestBytes -= buffer.readableBytes
                exchange.bodyDropped = true
                lease.handler.flush()
                lease.channel.close(mode: .output, promise: nil)
                return
            }
            lease.handler.write(.body(.byteBuffer(buffer)))
            exchange.upstreamNeedsFlush = true
        case .end:
            exchange.requestEnded = true
            if exchange.upgradeRequested { holdReads() }
            // A request's trailers stay here (as nginx and Envoy drop them on HTTP/1): they
            // are fields the client chose after the gate read its head — `X-Gatehouse-User`,
            // `Authorization`, `Host` — and a server that merges trailers into the header
            // section (RFC 9110 §6.5.1 forbids it; some do) would believe them.
            lease.handler.writeEnd(nil)
            if inClientRead && !exchange.responseEnded {
                // With the head, at the end of this read (a flush per part was two per request).
                exchange.upstreamNeedsFlush = true
            } else {
                lease.handler.flush()
                exchange.upstreamNeedsFlush = false
            }
            if exchange.responseEnded {
                completeExchange(exchange, context: context)
                return
            }
            // The response (or its head) is due from the request's end.
            refreshUpstreamDeadline(exchange, progressed: true, context: context)
        }
        if !lease.channel.isWritable {
            holdReads()
            refreshUpstreamDeadline(exchange, progressed: false, context: context)
        }
    }

    func abortForOversizedBody(_ exchange: Exchange, context: ChannelHandlerContext) {
        exchange.dropUpstream()
        exchange.finish(.clientAbort, status: exchange.responseStarted ? nil : 413)
        if exchange.responseStarted {
            closeClient(requestRead: false, context: context)
        } else {
            answer(.payloadTooLarge, keepAlive: false, requestComplete: false, context: context)
        }
    }

    /// Whether Gatehouse is waiting on the upstream: it has request bytes it does not
    /// take (its connection over the write watermark), owes the response head (the
    /// request has ended), or owes more of a response it started — unless Gatehouse
    /// itself holds that back because the client is not taking it (the client's own
    /// limit, `idle_timeout_ms`, runs then).
    func upstreamOwesProgress(_ exchange: Exchange) -> Bool {
        // Flags first: the usual call (the request's end, response due) reads no channel
        // state and copies no lease.
        if exchange.responseEnded || exchange.lease == nil { return false }
        if exchange.responseStarted {
            if exchange.lease?.handler.holdingReads == false { return true }
        } else if exchange.requestEnded {
            return true
        }
        return exchange.lease?.channel.isWritable == false
    }

    /// Keeps `upstream_response_timeout_ms` on the upstream whenever it owes something
    /// (nginx's `proxy_read_timeout` and `proxy_send_timeout` in one): `progressed` says
    /// it just did something (took bytes, sent bytes, or was handed the request's end),
    /// which starts the wait afresh; otherwise a wait already running keeps its deadline.
    ///
    /// The connection keeps one timer for all its exchanges (lazily moved to the current
    /// deadline when it fires early), so a kept-alive connection does not schedule and
    /// cancel a task per request, and a response that ends in the read that began it
    /// reads no clock for this.
    func refreshUpstreamDeadline(_ exchange: Exchange, progressed: Bool, context: ChannelHandlerContext) {
        guard upstreamOwesProgress(exchange) else {
            exchange.upstreamDeadline = nil
            return
        }
        guard progressed || exchange.upstreamDeadline == nil else { return }
        let deadline = NIODeadline.now() + settings.upstreamResponseTimeout
        exchange.upstreamDeadline = deadline
        if let scheduledAt = upstreamTimerAt, scheduledAt <= deadline { return }
        upstreamTimer?.cancel()
        scheduleUpstreamTimer(at: deadline, context: context)
    }

    private func scheduleUpstreamTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        upstreamTimerAt = deadline
        // `self` held strongly (a `weak` capture would give this handler a side table,
        // slowing each of its retains): the timer is cancelled when the channel goes
        // inactive or the handler leaves the pipeline, and holds it no longer than that.
        upstreamTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            self.upstreamTimer = nil
            self.upstreamTimerAt = nil
            guard let context = self.context, case .forwarding(let exchange) = self.state,
                  let due = exchange.upstreamDeadline else { return }
            if due > .now() {
                self.scheduleUpstreamTimer(at: due, context: context)
                return
            }
            self.upstreamTimedOut(exchange, context: context)
        }
    }

    /// The upstream owed something for `upstream_response_timeout_ms` and did nothing:
    /// 504 if the client has no response yet, else the response is cut (closed short),
    /// which is all a client that has the head can be told.
    private func upstreamTimedOut(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard !exchange.clientResponseStarted else {
            logger.debug("upstream stalled mid-response", metadata: ["timeout_ms": "\(settings.upstreamResponseTimeout.nanoseconds / 1_000_000)"])
            return upstreamBroke(exchange, context: context)
        }
        exchange.dropUpstream()
        exchange.finish(.upstreamError, status: 504)
        answer(.gatewayTimeout, keepAlive: exchange.keepAlive && exchange.requestEnded, requestComplete: exchange.requestEnded, endConsumed: exchange.requestEnded, context: context)
    }

    /// Ends the exchange and, when given, writes the response's last part.
    ///
    /// The state settles *before* that write: writing a response's `.end` makes
    /// `RequestSequencer` hand over the next pipelined request from inside the
    /// write, and that request must find this handler idle (or closed), not still
    /// forwarding the last one.
    func completeExchange(_ exchange: Exchange, context: ChannelHandlerContext, endOfResponse: HTTPServerResponsePart? = nil) {
        exchange.upstreamDeadline = nil
        guard case .forwarding(let current) = state, current === exchange else {
            if let endOfResponse { sendAndFlush(endOfResponse, context: context) }
            return
        }
        if let lease = exchange.lease, let endpoint = exchange.endpoint {
            exchange.lease = nil
            if exchange.requestEnded && exchange.upstreamKeepAlive {
                pool.release(endpoint, lease: lease)
            } else {
                lease.close()
            }
        }
        exchange.finish(.ok)
        if exchange.requestEnded && exchange.keepAlive {
            state = .idle
            resumeReads(context: context)
            timeouts.awaitingNextHead()
            if let endOfResponse { sendAndFlush(endOfResponse, context: context) }
        } else if let endOfResponse {
            state = .closed
            sendAndFlushThenClose(endOfResponse, requestRead: exchange.requestEnded, context: context)
        } else {
            closeClient(requestRead: exchange.requestEnded, context: context)
        }
    }
}

// MARK: - Upstream events

extension ProxyHandler: UpstreamHandlerDelegate {
    func upstreamRead(_ part: HTTPClientResponsePart, keepAlive: Bool, fields: HeaderHygiene.HopByHopScan?) {
        guard let context, case .forwarding(let exchange) = state else { return }
        switch part {
        case .head(let upstreamHead):
            // An answer has begun: the request is not sent again.
            if exchange.replay != nil { releaseReplay(exchange) }
            if let sentAt = exchange.sentAt {
                metrics.upstreamResponded(slot: exchange.app.metricSlot, isAPI: exchange.isAPI, after: .now() - sentAt)
            }
            exchange.responseStarted = true
            // The status read once: each read of `status` copies the enum out of the head's
            // storage box (five of them were ~260 instructions of every response). NIO's
            // decoder gives every 101 as `.switchingProtocols`, whatever its reason phrase.
            let code = upstreamHead.status.code
            let switching = code == 101
            exchange.status = code
            exchange.upstreamKeepAlive = keepAlive
            // A final answer before the request's end (an upstream that answers early: a
            // 413, a 401, a redirect): Gatehouse does not wait for a body nobody will use,
            // so the connection closes after this response — and the client is told so in
            // its head (RFC 9110 §10.1.1: a server answering before the content "SHOULD
            // indicate whether it intends to close"), rather than finding out when its
            // next request meets the close.
            if code >= 200 && !switching && !exchange.requestEnded { exchange.keepAlive = false }
            var headers = upstreamHead.headers
            // Read before the hop-by-hop fields go, and only for a switch (a walk of the fields).
            let upgradeTo = switching ? headers.first(name: "upgrade") : nil
            guard HeaderHygiene.cleanResponse(&headers, clientKeepsAlive: exchange.keepAlive && !switching, scanned: fields) else {
                // A transfer coding besides the chunking: not passed on as if it were content.
                return upstreamBroke(exchange, context: context)
            }
            if switching {
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
            // The upstream's head, re-versioned only if it is not HTTP/1.1 (a new head
            // would allocate its storage box on every response).
            var head = upstreamHead
            head.headers = headers
            if head.version != .http1_1 { head.version = .http1_1 }
            if let rewriter = exchange.htmlRewriter {
                // An injectable HTML response's head waits until the injector has decided.
                if rewriter.responseHead(head) { return }
                if code >= 200 { exchange.htmlRewriter = nil }
            }
            if code >= 200 { exchange.clientResponseStarted = true }
            send(.head(head), context: context)
        case .body(let buffer):
            exchange.responseBytes += buffer.readableBytes
            if let rewriter = exchange.htmlRewriter {
                do {
                    writeRewritten(try rewriter.bodyReceived(buffer), exchange: exchange, context: context)
                } catch {
                    return upstreamBroke(exchange, context: context)
                }
            } else {
                send(.body(.byteBuffer(buffer)), context: context)
            }
            if !context.channel.isWritable { exchange.lease?.handler.holdReads() }
        case .end(let trailers):
            if let rewriter = exchange.htmlRewriter {
                do {
                    writeRewritten(try rewriter.bodyEnded(), exchange: exchange, context: context)
                } catch {
                    return upstreamBroke(exchange, context: context)
                }
            }
            exchange.responseEnded = true
            metrics.response(slot: exchange.app.metricSlot, route: exchange.isAPI ? .api : .app, status: exchange.status)
            logAccess(status: exchange.status)
            if exchange.switchingProtocols {
                sendAndFlush(.end(trailers), context: context)
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
    func engageTunnel(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let lease = exchange.lease else { return }
        exchange.lease = nil
        exchange.finish(.ok)
        lease.handler.owner = nil
        state = .closed
        do {
            try TunnelSwitch.engage(
                client: context.channel, upstream: lease.channel, proxyHandler: self, upstreamHandler: lease.handler,
                idleTimeout: settings.idleTimeout
            )
        } catch {
            lease.channel.close(promise: nil)
            context.close(promise: nil)
        }
    }

    func upstreamReadComplete() {
        guard let context else { return }
        flushResponses(context: context)
        // Once per read, not per part: a response that ended within it owes nothing.
        if case .forwarding(let exchange) = state, exchange.responseStarted {
            refreshUpstreamDeadline(exchange, progressed: true, context: context)
        }
    }

    func upstreamClosed() {
        guard let context, case .forwarding(let exchange) = state, !exchange.responseEnded else { return }
        logger.debug("upstream connection closed before the response ended", metadata: [
            "response_started": "\(exchange.responseStarted)", "reused": "\(exchange.lease?.reused ?? false)",
        ])
        if replay(exchange, context: context) { return }
        upstreamBroke(exchange, context: context)
    }

    func upstreamFailed(_ error: Error) {
        guard let context, case .forwarding(let exchange) = state, !exchange.responseEnded else { return }
        logger.debug("upstream connection failed", metadata: ["error": "\(error)"])
        // A reset or a broken pipe is the same close met by the request; a malformed answer
        // is an answer, and not asked for again.
        if error is IOError, replay(exchange, context: context) { return }
        upstreamBroke(exchange, context: context)
    }

    /// Whether `request` can be sent again as it was, should a reused connection close
    /// under it before any answer (``Exchange/replay``): a method RFC 9110 §9.2.2 calls
    /// idempotent and no body (nothing of one was read, and none will be). As nginx's
    /// `proxy_next_upstream error` does for a request that met a cached connection's close.
    static func mayReplay(_ request: UpstreamRequest) -> Bool {
        request.framing == .neither && request.method.isIdempotent
    }

    /// The kept request goes back: its head buffer to the loop's spares.
    func releaseReplay(_ exchange: Exchange) {
        guard let replay = exchange.replay.take() else { return }
        headBuffers.recycle(replay.head)
    }

    /// Sends the request again on another connection when the one it went out on — a
    /// reused one — closed before any byte of an answer: the upstream's idle close met the
    /// request (it never read it). Once per request; `false` when it does not apply.
    private func replay(_ exchange: Exchange, context: ChannelHandlerContext) -> Bool {
        guard !exchange.responseStarted, let request = exchange.replay.take(), let endpoint = exchange.endpoint else { return false }
        exchange.replayed = true
        exchange.leaveUpstreamConnection()
        logger.debug("request sent again: its pooled connection closed before any answer")
        connect(exchange, endpoint: endpoint, request: request, upgradeRequested: exchange.upgradeRequested, expectContinue: false, context: context)
        return true
    }

    /// The upstream failed: 502 if the client has no response head yet (an injectable
    /// page's head may still be waiting for the injector), else the response is cut.
    func upstreamBroke(_ exchange: Exchange, context: ChannelHandlerContext) {
        exchange.dropUpstream()
        exchange.finish(.upstreamError, status: exchange.clientResponseStarted ? nil : 502)
        metrics.upstreamFailed(slot: exchange.app.metricSlot)
        if exchange.clientResponseStarted {
            logAccess(status: exchange.status)
            closeClient(requestRead: exchange.requestEnded, context: context)
        } else {
            answer(.badGateway, keepAlive: exchange.keepAlive && exchange.requestEnded, requestComplete: exchange.requestEnded, endConsumed: exchange.requestEnded, context: context)
        }
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        guard let context, case .forwarding(let exchange) = state else { return }
        if isWritable { resumeReads(context: context) } else { holdReads() }
        // Writable again: it took bytes, which is progress.
        refreshUpstreamDeadline(exchange, progressed: isWritable, context: context)
    }
}
