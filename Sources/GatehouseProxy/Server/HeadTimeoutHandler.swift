import NIOCore

/// Enforces `client_header_timeout_ms` and `idle_timeout_ms` on the raw byte stream,
/// before the HTTP decoder (which cannot say when the first byte of a head arrived).
///
/// A new connection has `client_header_timeout_ms` to deliver a complete head. Between
/// keep-alive requests the connection may sit idle for `idle_timeout_ms` and is then
/// closed silently; once a byte of the next head arrives, the head timeout applies
/// again. On expiry it answers 408 itself, as raw bytes (SPEC "Routing": 408, close).
/// ``ProxyHandler`` tells it when a head was complete and when the next one is awaited.
/// Runs on the connection's event loop.
final class HeadTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
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
    private var timer: Scheduled<Void>?
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
        if context.channel.isActive { arm(headTimeout, context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if timer == nil, state == .awaitingFirstHead { arm(headTimeout, context: context) }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state == .idleBetweenRequests {
            state = .receivingHead
            arm(headTimeout, context: context)
        }
        context.fireChannelRead(data)
    }

    /// A complete request head was decoded: no timeout while the exchange runs.
    func headReceived() {
        state = .inRequest
        timer?.cancel()
        timer = nil
    }

    /// The previous response is complete; wait for the next head.
    func awaitingNextHead() {
        guard let context else { return }
        state = .idleBetweenRequests
        arm(idleTimeout, context: context)
    }

    private func arm(_ amount: TimeAmount, context: ChannelHandlerContext) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: amount) { [weak self] in
            self?.expired()
        }
    }

    private func expired() {
        guard let context else { return }
        timer = nil
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
}
