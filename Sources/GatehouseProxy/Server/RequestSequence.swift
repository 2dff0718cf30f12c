import NIOCore

/// The order of requests and responses on one HTTP/1.1 client connection (RFC 9112 §9.3.2:
/// responses in the order of the requests), as a value with no I/O; ``RequestSequencer``
/// runs its actions.
///
/// One request is handed on at a time. What a client pipelines behind a request whose
/// response has not ended is held, in order, until that response's last part is written,
/// and reads stop while anything is held — so the bound is what one read decoded.
///
/// Unlike NIO's `HTTPServerPipelineHandler`, reads are *not* stopped merely because a
/// response is pending. A keep-alive client that waits for its response (nearly all of
/// them) sends nothing meanwhile, so keeping read interest costs nothing, while dropping
/// and re-adding it cost two `epoll_ctl` calls and a selector update on every proxied
/// request (~9% of the proxy's CPU per `/_api` request).
///
/// Nor is a next request handed on — or read — while the client does not take its responses
/// (the channel is not writable): a client that pipelines requests without reading the
/// answers would otherwise have them pile up in the outbound buffer without bound (5 GB
/// for 300 MB of requests, measured before this rule).
///
/// A drain (`ChannelShouldQuiesceEvent`) lets the request in progress finish, marks its
/// response `Connection: close` and drops anything pipelined behind it. (A client's FIN is
/// not an event here: the channel does not allow half-closure, so it closes the connection
/// and aborts the exchange — billed `client_abort` — as nginx does by default.)
struct RequestSequence<Event> {
    /// What the decoder delivered (or the channel reported).
    enum Kind: Equatable {
        case head
        case body
        case end
        /// A framing error from the decoder: it ends the request; the error's answer is
        /// the response.
        case parseError
    }

    /// What to do with an inbound event.
    enum InboundAction: Equatable {
        /// Hand it on.
        case deliver
        /// Hand it on, then close the connection (a drain was waiting for this request's
        /// end and its response already ended).
        case deliverThenClose
        /// Kept (pipelined behind a pending response) or dropped (after a drain); nothing
        /// to do now.
        case none
    }

    /// What to do with a response's last part.
    enum ResponseEndAction: Equatable {
        case write
        /// Write it, then close (drain).
        case writeThenClose
    }

    private enum Closing {
        case no
        /// Finish the request in progress, then close.
        case afterCurrent
        case closed
    }

    /// A head was handed on and its `.end` was not yet.
    private var requestOpen = false
    /// A request was handed on and its response's `.end` has not been written.
    private var responsePending = false
    private var closing = Closing.no
    private var held = CircularBuffer<(Kind, Event)>(initialCapacity: 0)
    private var readHeld = false
    /// The channel's writability: whether the client takes what is written to it.
    private var clientTakesResponses = true

    /// Whether the next response head must say `Connection: close`.
    var responsesMustClose: Bool { closing != .no }

    /// A drain asked this connection to close (not the client's HTTP/1.0 framing).
    private(set) var draining = false
    /// Something arrived after the request the connection closes behind, and was dropped.
    private var droppedAfterLast = false

    /// Whether a close now should linger over unread input (``LingeringClose``): at a drain,
    /// whose moment the client did not choose, bytes may be on their way or unread at any
    /// time; a client that sent more than its last request (held, dropped, or a read
    /// withheld behind them) may have sent more still. Otherwise the client asked for the
    /// close and sent nothing after its request.
    var closeShouldLinger: Bool { draining || droppedAfterLast || !held.isEmpty || readHeld }

    /// Whether anything pipelined is waiting.
    var isHolding: Bool { !held.isEmpty }

    /// Requests are held only because the client is not taking its answers: no exchange is
    /// in progress. The connection is then idle from the server's side (a complete head
    /// waits; no head is being received), which is what the head/idle timeouts must see.
    var waitingForClient: Bool { !requestOpen && !responsePending && !held.isEmpty }

    /// Between the end of a request and the end of its response: a new request must wait.
    private var awaitingResponseEnd: Bool { responsePending && !requestOpen }

    // MARK: - Inbound

    /// An event arrived from the decoder (or the channel).
    mutating func received(_ kind: Kind, _ event: Event) -> InboundAction {
        switch closing {
        case .closed:
            droppedAfterLast = true
            return .none
        case .afterCurrent where !requestOpen:
            // Draining: the last request has ended; nothing after it is served.
            droppedAfterLast = true
            return .none
        case .no, .afterCurrent:
            break
        }
        if !held.isEmpty || awaitingResponseEnd || (kind == .head && !clientTakesResponses) {
            held.append((kind, event))
            return .none
        }
        return deliver(kind)
    }

    /// The next held event that may be handed on now, with its action; `nil` while the
    /// response of a delivered request is still pending (or nothing is held).
    mutating func nextHeld() -> (Event, InboundAction)? {
        guard closing != .closed, !awaitingResponseEnd, let next = held.first,
              next.0 != .head || clientTakesResponses else { return nil }
        held.removeFirst()
        return (next.1, deliver(next.0))
    }

    private mutating func deliver(_ kind: Kind) -> InboundAction {
        switch kind {
        case .head:
            requestOpen = true
            responsePending = true
            return .deliver
        case .body:
            return .deliver
        case .end:
            requestOpen = false
            if closing == .afterCurrent && !responsePending {
                closing = .closed
                return .deliverThenClose
            }
            return .deliver
        case .parseError:
            // The error's answer (400/431, then close) is the response of whatever request
            // was being read; nothing after it is read as a request.
            requestOpen = false
            responsePending = true
            return .deliver
        }
    }

    // MARK: - Outbound

    /// `read()` travelling towards the socket: `true` to pass it on.
    mutating func readRequested() -> Bool {
        switch closing {
        case .closed:
            return false
        case .afterCurrent where !requestOpen:
            return false
        case .no, .afterCurrent:
            break
        }
        if !held.isEmpty || (!clientTakesResponses && !requestOpen) {
            // Pipelined requests wait, or the client is not reading its answers: reading
            // more would only queue more answers. (A request's body is still read: the
            // exchange applies its own backpressure to it.)
            readHeld = true
            return false
        }
        return true
    }

    /// The channel's writability changed: `true` when held requests and a withheld read
    /// may go on now (``nextHeld()``, ``takeWithheldRead()``).
    mutating func clientWritabilityChanged(_ writable: Bool) -> Bool {
        clientTakesResponses = writable
        return writable && (readHeld || !held.isEmpty)
    }

    /// After the held events were handed on: `true` if a read withheld meanwhile must be
    /// issued now.
    mutating func takeWithheldRead() -> Bool {
        guard readHeld, held.isEmpty, readRequested() else { return false }
        readHeld = false
        return true
    }

    /// The response's last part is being written.
    mutating func responseEnded() -> ResponseEndAction {
        responsePending = false
        if closing == .afterCurrent && !requestOpen {
            closing = .closed
            held.removeAll()
            return .writeThenClose
        }
        return .write
    }

    // MARK: - Lifecycle

    /// The server drains (SIGTERM): `true` to close now (nothing in progress).
    mutating func quiesce() -> Bool {
        guard closing != .closed else { return false }
        draining = true
        held.removeAll()
        if !requestOpen && !responsePending {
            closing = .closed
            return true
        }
        closing = .afterCurrent
        return false
    }

    /// The response under way is the connection's last (its body ends at the close):
    /// closed once it is written; nothing more is taken.
    mutating func closeAfterCurrentResponse() {
        guard closing == .no else { return }
        held.removeAll()
        closing = .afterCurrent
    }

    /// Everything still held, for a handler leaving the pipeline (an upgrade to a tunnel).
    mutating func takeAllHeld() -> [Event] {
        defer { held.removeAll() }
        return held.map(\.1)
    }
}
