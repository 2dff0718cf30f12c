import GatehouseAuth
import GatehouseCore
import Logging
import NIOCore
import NIOHTTP1

/// Responses ``ProxyHandler`` writes itself, and the access log. Same event loop.
extension ProxyHandler {
    // MARK: - Local answers

    /// Writes a response Gatehouse decided itself. If the request's body has not been
    /// read (`requestComplete` false) the connection closes after it, so no byte of that
    /// body is taken for the next request (SPEC "Routing").
    ///
    /// `endConsumed`: the request's `.end` was already read (an exchange that failed after
    /// the whole request arrived), so a kept-alive connection is idle at once rather than
    /// waiting for an `.end` that will not come again.
    func answer(_ response: LocalResponse, keepAlive: Bool, requestComplete: Bool, endConsumed: Bool = false, context: ChannelHandlerContext) {
        let keep = keepAlive && !response.closesConnection
        if let prebuilt = response.prebuilt(keepAlive: keep) {
            if sequencer?.writePrebuilt(prebuilt) != true {
                send(.head(prebuilt.head), context: context)
                if !currentRequestIsHead { send(.body(.byteBuffer(prebuilt.body)), context: context) }
            }
        } else {
            let body = response.body
            let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: response.headers(keepAlive: keep, bodyByteCount: body.utf8.count))
            send(.head(head), context: context)
            if !body.isEmpty && !currentRequestIsHead {
                var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
                buffer.writeString(body)
                send(.body(.byteBuffer(buffer)), context: context)
            }
        }
        metrics.response(slot: currentApp.map { runtime.apps[$0].metricSlot } ?? MetricSlots.none, route: .local, status: response.status.code)
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
        guard !keep else { return sendAndFlush(.end(nil), context: context) }
        sendAndFlushThenClose(.end(nil), requestRead: requestComplete, context: context)
    }

    func requestEndedAfterLocalAnswer(keepAlive: Bool, context: ChannelHandlerContext) {
        if keepAlive {
            state = .idle
            timeouts.awaitingNextHead()
        } else {
            closeClient(requestRead: true, context: context)
        }
    }

    /// One access-log line (SPEC issue 3: off by default or sampled). Never the query
    /// string, a header or a token: only what identifies the request and its result.
    func logAccess(status: UInt) {
        guard accessEntry != nil, let entry = accessEntry.take() else { return }
        var metadata: Logger.Metadata = [
            "method": "\(entry.method)", "path": "\(entry.path)", "status": "\(status)", "route": "\(entry.route)",
            "duration_ms": "\(Double((NIODeadline.now() - entry.started).nanoseconds / 100_000) / 10)",
        ]
        if let app = currentApp { metadata["app"] = "\(runtime.apps[app].config.id)" }
        if let user = entry.user { metadata["user"] = "\(user)" }
        if let id = entry.requestID { metadata["request_id"] = "\(id)" }
        logger.info("request", metadata: metadata)
    }

    /// Ends the client connection after what was written to it: its output shut once that
    /// is out, then — when the client may still be sending (`requestRead` false) — what it
    /// sends read and dropped until it closes or goes quiet (``LingeringClose``), as every
    /// other close with the client's bytes unread does. Closed outright, the kernel reset
    /// the connection on the client's next bytes: a client still sending its body when the
    /// upstream's answer broke after its head met the reset mid-upload, and could lose what
    /// was written before it (a randomized run, `scripts/fuzz-exchanges.sh` seed 1216).
    func closeClient(requestRead: Bool, context: ChannelHandlerContext) {
        state = .closed
        LingeringClose.closeWhenWritten(context, linger: !requestRead)
    }
}
