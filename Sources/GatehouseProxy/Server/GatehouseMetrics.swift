import Metrics
import NIOCore
import NIOHTTP1

/// The proxy's metrics (SPEC "Routing": `/metrics`, every name prefixed `gatehouse_`),
/// created once per runtime with bounded labels: app ids from the configuration, route
/// class, status class, gate reason — never a user or org id. The counters and the meter
/// are atomics (no lock on the request path); the upstream latency timer is
/// swift-prometheus's `Histogram`, whose `record` takes a mutex per observation (~630
/// instructions with its bucket walk, uncontended with one event loop; shared by all
/// loops otherwise).
public final class ProxyMetrics: Sendable {
    public enum Route: Int, Sendable, CaseIterable {
        case api, app, local
        var label: String { ["api", "app", "local"][rawValue] }
    }

    static let reasons = [
        "missing_token", "malformed", "bad_signature", "unknown_kid", "expired", "not_yet_valid",
        "bad_issuer", "bad_audience", "unauthorized_party", "unsupported_alg", "unknown_key",
        "forbidden", "auth_unavailable", "rate_limited",
    ]
    private static let statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"]

    /// Index `appCount` stands for "no app" (a request refused before routing).
    private let requests: [[[Counter]]]
    private let accepted: [Counter]
    private let rejected: [[String: Counter]]
    private let upstreamLatency: [[Timer]]
    private let upstreamFailures: [Counter]
    private let openConnections: Meter

    public init(appIDs: [String]) {
        let labels = appIDs + ["_none"]
        requests = labels.map { app in
            Route.allCases.map { route in
                Self.statusClasses.map { status in
                    Counter(label: "gatehouse_requests_total", dimensions: [("app", app), ("route", route.label), ("status", status)])
                }
            }
        }
        accepted = labels.map { Counter(label: "gatehouse_gate_decisions_total", dimensions: [("app", $0), ("outcome", "accepted")]) }
        rejected = labels.map { app in
            Dictionary(uniqueKeysWithValues: Self.reasons.map { reason in
                (reason, Counter(label: "gatehouse_gate_decisions_total", dimensions: [("app", app), ("outcome", reason)]))
            })
        }
        upstreamLatency = labels.map { app in
            [Route.api, Route.app].map { route in
                Timer(label: "gatehouse_upstream_response_seconds", dimensions: [("app", app), ("route", route.label)], preferredDisplayUnit: .seconds)
            }
        }
        upstreamFailures = labels.map { Counter(label: "gatehouse_upstream_failures_total", dimensions: [("app", $0)]) }
        openConnections = Meter(label: "gatehouse_open_connections")
    }

    private func app(_ index: Int?) -> Int { min(index ?? requests.count - 1, requests.count - 1) }

    func gateAccepted(app index: Int) {
        accepted[app(index)].increment()
    }

    func gateRejected(app index: Int, _ rejection: GateRejection) {
        let key: String
        switch rejection {
        case .unauthenticated(let reason): key = reason.rawValue
        case .forbidden: key = "forbidden"
        case .authUnavailable: key = "auth_unavailable"
        case .rateLimited: key = "rate_limited"
        }
        rejected[app(index)][key]?.increment()
    }

    func response(app index: Int?, route: Route, status: UInt) {
        let statusIndex = Int(min(max(status / 100, 1), 5)) - 1
        requests[app(index)][route.rawValue][statusIndex].increment()
    }

    /// Time from the request head sent upstream to the response head.
    func upstreamResponded(app index: Int, isAPI: Bool, after elapsed: TimeAmount) {
        upstreamLatency[app(index)][isAPI ? 0 : 1].recordNanoseconds(elapsed.nanoseconds)
    }

    func upstreamFailed(app index: Int) {
        upstreamFailures[app(index)].increment()
    }

    func connectionOpened() { openConnections.increment() }
    func connectionClosed() { openConnections.decrement() }
}
