import GatehouseCore
import GatehouseMetering
import NIOCore
import NIOHTTP1

/// One request's trip through an upstream, from routing to the end of its response.
/// A reference type because the pool's connect callback and the response timer must
/// see the same exchange (and tell a stale one apart by identity). Loop-confined.
final class Exchange {
    /// How the exchange ended, as a meter record will say it.
    enum Outcome {
        case ok
        case upstreamError
        case clientAbort
    }

    let serial: Int
    let app: AppRuntime
    let isAPI: Bool
    /// Whether the client connection stays open after this response.
    var keepAlive: Bool
    /// Request parts that arrived before the upstream was ready (bounded: reads are held).
    /// Added to by ``buffer(_:)``.
    var buffered: [HTTPServerRequestPart] = []
    var requestEnded = false
    /// The upstream's response head arrived.
    var responseStarted = false
    /// A final response head went to the client. Later than ``responseStarted`` for an
    /// injectable page, whose head waits for the injector: until then a failed upstream
    /// can still be answered 502/504 instead of dropping a client that got nothing.
    var clientResponseStarted = false
    var responseEnded = false
    var upstreamKeepAlive = true
    /// The request carried `Upgrade`: nothing more is read from the client until the
    /// upstream answers (the decoder parses no further request on this connection).
    var upgradeRequested = false
    /// The upstream answered `101` to a WebSocket upgrade; tunnel at the response's end.
    var switchingProtocols = false
    var upstreamNeedsFlush = false
    var lease: UpstreamConnectionPool.Lease?
    var endpoint: UpstreamEndpoint?
    /// When Gatehouse gives up on the upstream (`upstream_response_timeout_ms`): its
    /// response head is due, or it has gone that long without taking the request bytes it
    /// is sent or sending more of a response it started. `nil` while it owes nothing
    /// (Gatehouse waits on the client). The connection's timer checks it
    /// (``ProxyHandler/refreshUpstreamDeadline(_:progressed:context:)``).
    var upstreamDeadline: NIODeadline?
    /// `max_api_body_bytes` for `/_api`, `nil` for the app route.
    var bodyLimit: Int?
    /// The body passed `bodyLimit` after the upstream's answer began: the rest of it is
    /// not forwarded (the request never ends for the upstream; the connection closes).
    var bodyDropped = false
    /// When the request head went upstream (upstream latency).
    var sentAt: NIODeadline?
    /// The request as sent on a reused pooled connection, kept until the first byte of an
    /// answer, when it can be sent again as it was (an idempotent method, no body): such a
    /// connection may meet the upstream's own idle close just as the request goes out
    /// (``ProxyHandler/upstreamClosed()``). Its head buffer goes back to the loop's spares
    /// when it is let go (``ProxyHandler/releaseReplay(_:)``).
    var replay: UpstreamRequest?
    /// Sent a second time already: a request is replayed once.
    var replayed = false
    var requestBytes = 0
    var responseBytes = 0
    var status: UInt = 0
    private(set) var outcome: Outcome?
    /// Set for `/_api` exchanges the gate let through: they are billed when they end.
    var meter: MeterDraft?
    /// Set for app-route `GET`s while their response may still get the SDK injected.
    var htmlRewriter: HTMLResponseRewriter?
    private let loop: LoopContext

    /// What a billable exchange's record needs beyond the counters above.
    struct MeterDraft {
        let arrivedMs: Int64
        let started: NIODeadline
        let user: String
        let method: String
        let path: String
        let requestID: RequestID
    }

    init(serial: Int, app: AppRuntime, isAPI: Bool, keepAlive: Bool, loop: LoopContext) {
        self.serial = serial
        self.app = app
        self.isAPI = isAPI
        self.keepAlive = keepAlive
        self.loop = loop
    }

    /// Keeps a request part that arrived before the upstream was ready. The list moved out
    /// and back: appended in place, its growth (a call into the standard library) inside
    /// the access made every access to it checked at run time (`swift_beginAccess`).
    func buffer(_ part: HTTPServerRequestPart) {
        var buffered = self.buffered
        self.buffered = []
        buffered.append(part)
        self.buffered = buffered
    }

    /// Detaches the upstream connection, then closes it: detached first, because the close
    /// fires `upstreamClosed`, which must neither answer (502) nor bill a second time.
    /// Nothing more of the response is expected or rewritten.
    func dropUpstream() {
        htmlRewriter = nil
        leaveUpstreamConnection()
    }

    /// Lets the upstream connection go (detached, closed) and nothing it owed is waited
    /// for; the exchange itself goes on — on another connection, when its request is sent
    /// again (``ProxyHandler/upstreamClosed()``).
    func leaveUpstreamConnection() {
        upstreamDeadline = nil
        lease?.close()
        lease = nil
    }

    /// Records how the exchange ended; only the first call counts. A billable exchange
    /// leaves its meter record with the loop. `status` is what the client was told when
    /// Gatehouse answered itself (502/504); otherwise the upstream's status, or 499
    /// (nginx's "client closed request") when the client left before any response.
    func finish(_ outcome: Outcome, status answered: UInt? = nil) {
        guard self.outcome == nil else { return }
        self.outcome = outcome
        upstreamDeadline = nil
        // Taken out (used once): bound from the stored optional, the draft was copied whole.
        guard let meter = meter.take() else { return }
        let finalStatus: UInt
        if let answered {
            finalStatus = answered
        } else if clientResponseStarted {
            finalStatus = status
        } else {
            finalStatus = outcome == .clientAbort ? 499 : 502
        }
        let recordOutcome: MeterRecord.Outcome
        switch outcome {
        case .ok: recordOutcome = .ok
        case .upstreamError: recordOutcome = .upstreamError
        case .clientAbort: recordOutcome = .clientAbort
        }
        let elapsed = NIODeadline.now() - meter.started
        loop.record(MeterRecord(
            timestampMs: meter.arrivedMs, org: app.config.org, app: app.config.id, user: meter.user,
            method: meter.method, path: meter.path, status: Int(finalStatus), requestBytes: requestBytes,
            responseBytes: responseBytes, durationMs: Double(elapsed.nanoseconds) / 1_000_000,
            requestID: meter.requestID, outcome: recordOutcome
        ))
    }
}
