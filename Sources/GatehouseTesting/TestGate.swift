import NIOConcurrencyHelpers

/// A latch a test opens when it chooses: a ``TestResponse/gated(_:then:)`` upstream
/// response waits for it, so "a request is in flight" is a state the test controls
/// rather than a delay it guesses.
public final class TestGate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [@Sendable () -> Void] = []
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Opens the gate: every waiting response goes out, later ones do not wait.
    public func open() {
        let waiters = state.withLockedValue { s -> [@Sendable () -> Void] in
            s.isOpen = true
            defer { s.waiters = [] }
            return s.waiters
        }
        waiters.forEach { $0() }
    }

    public var isOpen: Bool { state.withLockedValue { $0.isOpen } }

    /// Runs `body` once the gate is open (at once if it already is), on the caller of
    /// ``open()`` or of this method.
    func whenOpen(_ body: @escaping @Sendable () -> Void) {
        let runNow = state.withLockedValue { s -> Bool in
            if s.isOpen { return true }
            s.waiters.append(body)
            return false
        }
        if runNow { body() }
    }
}
