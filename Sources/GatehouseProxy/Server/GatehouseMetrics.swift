import Metrics
import NIOHTTP1

/// The proxy's counters, created once with bounded labels (never a user or org id).
/// `Counter` increments are atomic, so the hot path takes no lock.
enum GatehouseMetrics {
    private static let rejections: [String: Counter] = {
        var table: [String: Counter] = [:]
        for reason in ["missing_token", "malformed", "bad_signature", "unknown_kid", "expired", "not_yet_valid",
                       "bad_issuer", "bad_audience", "unauthorized_party", "unsupported_alg", "unknown_key",
                       "forbidden", "auth_unavailable", "rate_limited"] {
            table[reason] = Counter(label: "gatehouse_gate_rejections_total", dimensions: [("reason", reason)])
        }
        return table
    }()

    private static let statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"]
    private static let apiResponses = statusClasses.map { Counter(label: "gatehouse_requests_total", dimensions: [("route", "api"), ("status", $0)]) }
    private static let appResponses = statusClasses.map { Counter(label: "gatehouse_requests_total", dimensions: [("route", "app"), ("status", $0)]) }
    private static let localResponses = statusClasses.map { Counter(label: "gatehouse_requests_total", dimensions: [("route", "local"), ("status", $0)]) }
    private static let upstreamFailures = Counter(label: "gatehouse_upstream_failures_total")

    static func gateRejected(_ rejection: GateRejection) {
        let key: String
        switch rejection {
        case .unauthenticated(let reason): key = reason.rawValue
        case .forbidden: key = "forbidden"
        case .authUnavailable: key = "auth_unavailable"
        case .rateLimited: key = "rate_limited"
        }
        rejections[key]?.increment()
    }

    static func proxied(status: UInt, isAPI: Bool) {
        let index = Int(min(max(status / 100, 1), 5)) - 1
        (isAPI ? apiResponses : appResponses)[index].increment()
    }

    static func localResponse(_ status: HTTPResponseStatus) {
        let index = Int(min(max(status.code / 100, 1), 5)) - 1
        localResponses[index].increment()
    }

    static func upstreamFailed() {
        upstreamFailures.increment()
    }
}
