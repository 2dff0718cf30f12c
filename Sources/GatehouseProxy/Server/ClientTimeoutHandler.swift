import NIOCore

/// Enforces the client's timeouts on the raw byte stream, before the HTTP decoder (which
/// cannot say when the first byte of a head arrived): `client_header_timeout_ms` and
/// `idle_timeout_ms`, and the latter again for a client that stops taking what it is sent
/// or stops sending a body it declared.
///
/// A new connection has `client_header_timeout_ms` to deliver a complete head. Between
/// keep-alive requests the connection may sit idle for `idle_timeout_ms` and is then
/// closed silently; once a byte of the next head arrives, the head timeout applies
/// again. On expiry it answers 408 itself, as raw bytes (SPEC "Routing": 408, close).
/// ``ProxyHandler`` tells it when a head was complete and when the next one is awaited.
///
/// A client that leaves written bytes untaken (the channel stays over its write-buffer
/// high watermark, so not writable) for `idle_timeout_ms` is closed silently, like
/// nginx's `send_timeout`: otherwise a reader that stops mid-response holds its
/// connection, and the upstream connection paused behind it, for good. Writable again
/// (half the watermark taken) starts the wait afresh.
///
/// Likewise a request body: between a request's head and its end (``RequestSequencer``
/// says when) the client owes bytes, and while the pipeline waits for them — a read
/// passed down, nothing arrived — they must keep coming within `idle_timeout_ms` (nginx's
/// `client_body_timeout`), or a client trickling a declared body would hold its
/// connection and an upstream connection for good. While Gatehouse itself holds reads
/// (backpressure, a held pipelined request) the client is not waited on and no time runs.
///
/// Timers are lazy: state changes only move a deadline, and one scheduled task at a time
/// checks it when it fires (re-arming for what is left), so a busy keep-alive connection
/// does not schedule and cancel a timer per request. Runs on the connection's event loop.
final class ClientTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case awaitingFirstHead
        case idleBetweenRequests
        case receivingHead
        case inRequest
    }

    private let headTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var state = State.awaitingFirstHead
    /// When the current state expires; `nil` while a request is in progress.
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?
    private var timerFiresAt: NIODeadline?
    /// When a client not taking its bytes is given up on; `nil` while the channel is writable.
    private var sendDeadline: NIODeadline?
    /// Between a request's head and its end (received, not handed on).
    private var owesBody = false
    /// When a client owing body bytes, and asked for them, is given up on; `nil` while
    /// no read waits on it.
    private var bodyDeadline: NIODeadline?
    /// Between bytes arriving and the end of that read cycle: a read requested then is
    /// looked at when the cycle ends, by which time a body-less request's end has arrived
    /// too (so the usual request reads no clock for this).
    private var inReadCycle = false
    private var readRequestedInCycle = false
    private var context: ChannelHandlerContext?

    static let timeoutResponse: String = {
        let body = LocalResponse.requestTimeout.body
        return "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    }()

    init(headTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { expire(after: headTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if deadline == nil, state == .awaitingFirstHead { expire(after: headTimeout) }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        timerFiresAt = nil
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        deadline = nil
        sendDeadline = nil
        bodyDeadline = nil
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            sendDeadline = nil
        } else {
            let when = NIODeadline.now() + idleTimeout
            sendDeadline = when
            if timerFiresAt.map({ $0 > when }) ?? true { schedule(at: when, context: context) }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Bytes came: the wait for the client is over until the next read goes down.
        bodyDeadline = nil
        inReadCycle = true
        if state == .idleBetweenRequests {
            state = .receivingHead
            expire(after: headTimeout)
        }
        context.fireChannelRead(data)
    }

    /// A complete request head was decoded: no timeout while the exchange runs.
    func headReceived() {
        state = .inRequest
        deadline = nil
    }

    /// Whether the client owes the current request's body (its head received, its end not yet).
    func clientOwesBody(_ owes: Bool) {
        owesBody = owes
        if !owes { bodyDeadline = nil }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadCycle = false
        if readRequestedInCycle {
            readRequestedInCycle = false
            waitForBody()
        }
        context.fireChannelReadComplete()
    }

    /// A read went down to the socket: if the client owes body bytes, they are now waited on.
    func readRequested() {
        if inReadCycle {
            readRequestedInCycle = true
        } else {
            waitForBody()
        }
    }

    private func waitForBody() {
        guard owesBody, bodyDeadline == nil, let context else { return }
        let when = NIODeadline.now() + idleTimeout
        bodyDeadline = when
        if timerFiresAt.map({ $0 > when }) ?? true { schedule(at: when, context: context) }
    }

    /// The previous response is complete; wait for the next head.
    func awaitingNextHead() {
        state = .idleBetweenRequests
        expire(after: idleTimeout)
    }

    /// Moves the deadline; schedules a task only if none would fire by then.
    private func expire(after amount: TimeAmount) {
        guard let context else { return }
        let newDeadline = NIODeadline.now() + amount
        deadline = newDeadline
        if let firesAt = timerFiresAt, firesAt <= newDeadline { return }
        schedule(at: newDeadline, context: context)
    }

    private func schedule(at when: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        timerFiresAt = when
        // `self` held strongly: a `weak` capture gives the handler a side table, which makes
        // each of its retains (one per pipeline event through it) the slow kind. The timer
        // is cancelled when the channel goes inactive or the handler leaves the pipeline.
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: when) { [self] in
            self.fired()
        }
    }

    private func fired() {
        timer = nil
        timerFiresAt = nil
        guard let context else { return }
        let now = NIODeadline.now()
        if sendDeadline.map({ $0 <= now }) ?? false || bodyDeadline.map({ $0 <= now }) ?? false {
            // Nothing can be answered to a client that takes nothing, and a body that
            // stopped mid-way may have an exchange streaming it already: just close.
            sendDeadline = nil
            bodyDeadline = nil
            deadline = nil
            context.close(promise: nil)
            return
        }
        guard let deadline, deadline <= now else {
            if let next = Self.earliest(Self.earliest(deadline, sendDeadline), bodyDeadline) { schedule(at: next, context: context) }
            return
        }
        self.deadline = nil
        if let next = Self.earliest(sendDeadline, bodyDeadline) { schedule(at: next, context: context) }
        switch state {
        case .idleBetweenRequests:
            context.close(promise: nil)
        case .awaitingFirstHead, .receivingHead:
            var buffer = context.channel.allocator.buffer(capacity: Self.timeoutResponse.utf8.count)
            buffer.writeString(Self.timeoutResponse)
            context.writeAndFlush(NIOAny(buffer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        case .inRequest:
            break
        }
    }

    private static func earliest(_ a: NIODeadline?, _ b: NIODeadline?) -> NIODeadline? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }
}
