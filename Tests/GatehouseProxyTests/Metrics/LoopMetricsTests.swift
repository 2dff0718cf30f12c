import GatehouseAuth
import NIOCore
import Testing

@testable import GatehouseProxy

/// The per-loop counters and their Prometheus text, without a network: cells by slot,
/// route, status class and gate outcome; histogram buckets made cumulative with an exact
/// sum; loops of different sizes summed; label values escaped.
@Suite struct LoopMetricsTests {
    static func text(_ metrics: LoopMetrics...) -> String {
        var total = LoopMetrics.Snapshot()
        for loop in metrics { total.add(loop.snapshot()) }
        return ProxyMetricsText.render(total, appLabels: labels)
    }

    /// Slot 0 is "no app"; the tests name two more.
    static let labels = ["_none", "app_a", "app_b"]

    static func value(_ text: String, _ series: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return String(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// The layout's literals are what the label lists and the cells add up to.
    @Test func layoutMatchesTheLabelsItCounts() {
        typealias L = LoopMetrics.Layout
        #expect(L.statusClassCount == L.statusClasses.count)
        #expect(L.routeCount == LoopMetrics.Route.allCases.count)
        #expect(L.outcomeCount == LoopMetrics.GateOutcome.labels.count)
        #expect(L.bucketCount == L.latencyBounds.count)
        #expect(L.bucketCount == L.latencyLabels.count)
        #expect(L.latencyBounds == L.latencyBounds.sorted())
        #expect(L.outcomes == L.requests + L.routeCount * L.statusClassCount)
        #expect(L.upstreamFailures == L.outcomes + L.outcomeCount)
        #expect(L.latency == L.upstreamFailures + 1)
        #expect(L.latencyStride == L.bucketCount + 2)
        #expect(L.stride == L.latency + 2 * L.latencyStride)
    }

    @Test func requestsCountByAppRouteAndStatusClass() {
        let metrics = LoopMetrics(slots: [1, 2])
        metrics.response(slot: 1, route: .api, status: 200)
        metrics.response(slot: 1, route: .api, status: 204)
        metrics.response(slot: 1, route: .local, status: 401)
        metrics.response(slot: 2, route: .app, status: 502)
        metrics.response(slot: MetricSlots.none, route: .local, status: 400)
        metrics.response(slot: 2, route: .app, status: 99)
        metrics.response(slot: 2, route: .app, status: 600)
        let text = Self.text(metrics)
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_a",route="api",status="2xx"}"#) == "2")
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_a",route="local",status="4xx"}"#) == "1")
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_a",route="app",status="2xx"}"#) == "0")
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_b",route="app",status="5xx"}"#) == "2")
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_b",route="app",status="1xx"}"#) == "1")
        #expect(Self.value(text, #"gatehouse_requests_total{app="_none",route="local",status="4xx"}"#) == "1")
        #expect(text.hasPrefix("# TYPE gatehouse_requests_total counter\n"))
    }

    @Test func everyGateOutcomeHasItsOwnLabel() {
        let metrics = LoopMetrics(slots: [1])
        var expected: [String: Int] = ["accepted": 2]
        metrics.gateAccepted(slot: 1)
        metrics.gateAccepted(slot: 1)
        for (n, reason) in TokenRejectionReason.allCases.enumerated() {
            for _ in 0...n { metrics.gateRejected(slot: 1, .unauthenticated(reason)) }
            expected[reason.rawValue] = n + 1
        }
        metrics.gateRejected(slot: 1, .forbidden)
        metrics.gateRejected(slot: 1, .authUnavailable(retryAfter: 5))
        metrics.gateRejected(slot: 1, .authUnavailable(retryAfter: 1))
        metrics.gateRejected(slot: 1, .rateLimited(retryAfter: 3))
        expected["forbidden"] = 1
        expected["auth_unavailable"] = 2
        expected["rate_limited"] = 1
        let text = Self.text(metrics)
        #expect(Set(LoopMetrics.GateOutcome.labels).count == LoopMetrics.GateOutcome.labels.count)
        for (outcome, count) in expected {
            #expect(Self.value(text, #"gatehouse_gate_decisions_total{app="app_a",outcome="\#(outcome)"}"#) == String(count), "\(outcome)")
        }
    }

    @Test func latencyBucketsAreCumulativeAndTheSumExact() {
        let metrics = LoopMetrics(slots: [1])
        metrics.upstreamResponded(slot: 1, isAPI: true, after: .microseconds(500))
        metrics.upstreamResponded(slot: 1, isAPI: true, after: .milliseconds(1))  // on a bound: in it
        metrics.upstreamResponded(slot: 1, isAPI: true, after: .milliseconds(3))
        metrics.upstreamResponded(slot: 1, isAPI: true, after: .seconds(20))  // above every bound
        metrics.upstreamResponded(slot: 1, isAPI: false, after: .milliseconds(700))
        let text = Self.text(metrics)
        let api = #"app="app_a",route="api""#
        func bucket(_ le: String, _ labels: String = api) -> String? {
            Self.value(text, "gatehouse_upstream_response_seconds_bucket{\(labels),le=\"\(le)\"}")
        }
        #expect(bucket("0.001") == "2")
        #expect(bucket("0.0025") == "2")
        #expect(bucket("0.005") == "3")
        #expect(bucket("10") == "3")
        #expect(bucket("+Inf") == "4")
        #expect(Self.value(text, "gatehouse_upstream_response_seconds_sum{\(api)}") == "20.0045")
        #expect(Self.value(text, "gatehouse_upstream_response_seconds_count{\(api)}") == "4")
        let app = #"app="app_a",route="app""#
        #expect(bucket("0.5", app) == "0")
        #expect(bucket("1", app) == "1")
        #expect(Self.value(text, "gatehouse_upstream_response_seconds_sum{\(app)}") == "0.7")
        #expect(text.contains("# TYPE gatehouse_upstream_response_seconds histogram\n"))
    }

    @Test func loopsAreSummedWhateverSlotsEachHasSeen() {
        let first = LoopMetrics(slots: [1])
        let second = LoopMetrics(slots: [1, 2])
        first.response(slot: 1, route: .api, status: 200)
        second.response(slot: 1, route: .api, status: 200)
        second.response(slot: 2, route: .api, status: 200)
        first.upstreamFailed(slot: 1)
        first.connectionOpened()
        first.connectionOpened()
        second.connectionOpened()
        first.connectionClosed()
        let text = Self.text(first, second)
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_a",route="api",status="2xx"}"#) == "2")
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_b",route="api",status="2xx"}"#) == "1")
        #expect(Self.value(text, #"gatehouse_upstream_failures_total{app="app_a"}"#) == "1")
        #expect(Self.value(text, "gatehouse_open_connections") == "2")
        // The order of the loops does not matter.
        #expect(Self.text(second, first) == text)
    }

    @Test func aReloadKeepsCountsAndListsNewAppsAtZero() {
        let metrics = LoopMetrics(slots: [1])
        metrics.response(slot: 1, route: .api, status: 200)
        #expect(!Self.text(metrics).contains(#"app="app_b""#))
        metrics.prepare(slots: [1, 2])
        let text = Self.text(metrics)
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_a",route="api",status="2xx"}"#) == "1")
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_b",route="api",status="2xx"}"#) == "0")
    }

    @Test func aSlotNeverPreparedOnThisLoopIsCountedNotTrapped() {
        let metrics = LoopMetrics(slots: [1])
        metrics.response(slot: 2, route: .api, status: 200)
        #expect(metrics.snapshot().cell(slot: 2, LoopMetrics.Layout.requests + 1) == 1)
    }

    /// Slots past the fixed block (a process that has named many app ids) count the same.
    @Test func slotsPastTheFixedBlockCountAndRender() {
        let high = LoopMetrics.fixedSlots + 8
        let metrics = LoopMetrics(slots: [1, high])
        metrics.response(slot: high, route: .app, status: 304)
        metrics.upstreamResponded(slot: high, isAPI: false, after: .milliseconds(2))
        metrics.response(slot: 1, route: .app, status: 304)
        var total = LoopMetrics.Snapshot()
        total.add(metrics.snapshot())
        let labels = Self.labels + (3...high).map { "app_\($0)" }
        let text = ProxyMetricsText.render(total, appLabels: labels)
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_\#(high)",route="app",status="3xx"}"#) == "1")
        #expect(Self.value(text, #"gatehouse_upstream_response_seconds_bucket{app="app_\#(high)",route="app",le="0.0025"}"#) == "1")
        #expect(Self.value(text, #"gatehouse_requests_total{app="app_a",route="app",status="3xx"}"#) == "1")
        #expect(!text.contains(#"app="app_3""#))
    }

    @Test func slotsAreStablePerAppID() {
        let id = "app_slot_\(UInt64.random(in: 0 ... .max))"
        let slot = MetricSlots.slot(for: id)
        #expect(slot != MetricSlots.none)
        #expect(MetricSlots.slot(for: id) == slot)
        #expect(MetricSlots.slot(for: id + "_other") != slot)
        #expect(MetricSlots.labels()[slot] == id)
    }

    @Test func labelValuesAreEscaped() {
        #expect(ProxyMetricsText.escaped(#"a"b\c"# + "\nd") == #"a\"b\\c\nd"#)
        #expect(ProxyMetricsText.escaped("app_plain") == "app_plain")
    }

    @Test func secondsAreWrittenExactly() {
        #expect(ProxyMetricsText.seconds(0) == "0")
        #expect(ProxyMetricsText.seconds(1) == "0.000000001")
        #expect(ProxyMetricsText.seconds(1_500_000_000) == "1.5")
        #expect(ProxyMetricsText.seconds(20_004_500_000) == "20.0045")
    }
}
