import NIOCore

/// Closes a tunnel nothing has crossed, either way, for `idle_timeout_ms`. A WebSocket
/// whose peer vanished without a FIN (a laptop lid closed, a NAT entry dropped) would
/// otherwise hold a client and an upstream connection for good; nginx closes a silent
/// tunnel after `proxy_read_timeout`, HAProxy after `timeout tunnel`. Applications that
/// keep sockets open across quiet spells send pings, as they must for those proxies too.
///
/// Lazy, like the connection timers: a read only notes the time, and one scheduled task
/// at a time checks it when it fires, re-arming for what is left. Loop-confined: both
/// halves of a tunnel share the event loop it runs on.
final class TunnelIdleWatch {
    private let timeout: TimeAmount
    private var lastActivity = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private let onIdle: () -> Void

    /// `onIdle` runs once, on the loop, when the tunnel has been silent for `timeout`.
    init(timeout: TimeAmount, onIdle: @escaping () -> Void) {
        self.timeout = timeout
        self.onIdle = onIdle
    }

    /// Starts watching from now.
    func start(on loop: EventLoop) {
        lastActivity = .now()
        schedule(at: lastActivity + timeout, on: loop)
    }

    /// Bytes crossed the tunnel.
    func touch() {
        lastActivity = .now()
    }

    /// The tunnel closed: nothing more to watch.
    func stop() {
        timer?.cancel()
        timer = nil
    }

    private func schedule(at deadline: NIODeadline, on loop: EventLoop) {
        timer = loop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self, self.timer != nil else { return }
            let due = self.lastActivity + self.timeout
            if due > .now() {
                self.schedule(at: due, on: loop)
            } else {
                self.timer = nil
                self.onIdle()
            }
        }
    }
}
