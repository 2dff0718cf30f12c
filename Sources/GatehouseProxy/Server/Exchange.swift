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
    var buffered: [HTTPServerRequestPart] = []
    var requestEnded = false
    var responseStarted = false
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
    var responseTimer: Scheduled<Void>?
    /// `max_api_body_bytes` for `/_api`, `nil` for the app route.
    var bodyLimit: Int?
    var requestBytes = 0
    var responseBytes = 0
    var status: UInt = 0
    private(set) var outcome: Outcome?

    init(serial: Int, app: AppRuntime, isAPI: Bool, keepAlive: Bool) {
        self.serial = serial
        self.app = app
        self.isAPI = isAPI
        self.keepAlive = keepAlive
    }

    /// Records how the exchange ended; only the first call counts.
    func finish(_ outcome: Outcome) {
        guard self.outcome == nil else { return }
        self.outcome = outcome
        responseTimer?.cancel()
        responseTimer = nil
    }
}
