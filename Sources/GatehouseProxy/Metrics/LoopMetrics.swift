import GatehouseAuth
import NIOCore

/// The request path's metrics for one event loop (SPEC "Routing": `/metrics`, every name
/// prefixed `gatehouse_`): plain integers that only this loop writes, summed over the
/// loops when `/metrics` is scraped, as Envoy merges its per-worker stats. A request
/// takes no lock and touches no cache line another core writes: the shared atomics and
/// swift-prometheus's histogram (a mutex per observation) cost ~900 instructions per
/// proxied request on one loop and contended between loops.
///
/// Labels stay bounded: app ids from the configuration (by ``MetricSlots``), route class,
/// status class, gate outcome, never a user or org id.
final class LoopMetrics {
    enum Route: Int, CaseIterable, Sendable {
        case api, app, local
        var label: String { ["api", "app", "local"][rawValue] }
    }

    /// One app's cells in ``counts``, at `slot * Layout.stride`. Integer literals, so
    /// reading them costs no lazy-initialisation check (a test holds them to the label
    /// lists they count).
    enum Layout {
        static let statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"]
        static let statusClassCount = 5
        static let routeCount = 3
        static let outcomeCount = 15
        static let bucketCount = 13
        /// `requests + route * 5 + status class`.
        static let requests = 0
        /// `outcomes + GateOutcome index`.
        static let outcomes = 15
        static let upstreamFailures = 30
        /// Two timed routes (api, app), each: one cell per bucket (the observations of
        /// that bucket alone, made cumulative when rendered), one above the last bound,
        /// then the sum in nanoseconds.
        static let latency = 31
        static let latencyStride = 15
        static let stride = 61

        /// Bucket bounds in nanoseconds and as rendered (`le`): Prometheus's default
        /// buckets with 1 ms and 2.5 ms below them, since a sidecar's upstream is often
        /// that close.
        static let latencyBounds: [Int64] = [
            1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000,
            250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
        ]
        static let latencyLabels = ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"]
    }

    /// Gate decisions as `outcome` labels: accepted, each 401 reason, then 403/503/429.
    enum GateOutcome {
        static let labels = ["accepted"] + TokenRejectionReason.allCases.map(\.rawValue) + ["forbidden", "auth_unavailable", "rate_limited"]

        static func index(_ rejection: GateRejection) -> Int {
            switch rejection {
            case .unauthenticated(let reason): 1 + reason.ordinal
            case .forbidden: 1 + TokenRejectionReason.allCases.count
            case .authUnavailable: 2 + TokenRejectionReason.allCases.count
            case .rateLimited: 3 + TokenRejectionReason.allCases.count
            }
        }
    }

    /// The cells of slots below ``fixedSlots``, allocated once and never moved: a `let`,
    /// so counting takes no run-time exclusivity check (each access to a class's stored
    /// `var` is one, ~100 instructions with its end; three per request were 300).
    private let fixed: UnsafeMutableBufferPointer<Int>
    static let fixedSlots = 32
    /// Cells of higher slots, from `fixedSlots` on: a process whose configurations have
    /// named more app ids than that (tests do).
    private var overflow: [Int] = []
    /// The slots of apps this loop has served a configuration of: rendered even at zero,
    /// as counters created at start are.
    private var known: [Bool] = []
    private var openConnections = 0

    init(slots: [Int]) {
        fixed = .allocate(capacity: Self.fixedSlots * Layout.stride)
        fixed.initialize(repeating: 0)
        prepare(slots: [MetricSlots.none] + slots)
    }

    deinit {
        fixed.deallocate()
    }

    /// Makes room for a configuration's apps (at start and on reload). Slots are stable
    /// per app id, so an app kept across a reload keeps counting where it was.
    func prepare(slots: [Int]) {
        for slot in slots {
            grow(toHold: slot)
            known[slot] = true
        }
    }

    private func grow(toHold slot: Int) {
        if slot >= known.count {
            known.append(contentsOf: repeatElement(false, count: slot + 1 - known.count))
        }
        let needed = (slot + 1 - Self.fixedSlots) * Layout.stride
        if needed > overflow.count {
            overflow.append(contentsOf: repeatElement(0, count: needed - overflow.count))
        }
    }

    /// Adds `amount` to a cell of `slot`, and `secondAmount` to a second one if given.
    @inline(__always)
    private func add(slot: Int, _ cell: Int, _ amount: Int = 1, and second: Int = -1, _ secondAmount: Int = 0) {
        if slot >= 0, slot < Self.fixedSlots {
            let base = slot &* Layout.stride
            fixed[base &+ cell] &+= amount
            if second >= 0 { fixed[base &+ second] &+= secondAmount }
        } else {
            addOverflow(slot: slot, cell, amount, and: second, secondAmount)
        }
    }

    private func addOverflow(slot: Int, _ cell: Int, _ amount: Int, and second: Int, _ secondAmount: Int) {
        // Every slot a request can carry was prepared when its configuration was
        // installed on this loop; a stray one is made room for, not trapped on.
        guard slot >= Self.fixedSlots else { return }
        grow(toHold: slot)
        let base = (slot - Self.fixedSlots) * Layout.stride
        overflow[base + cell] &+= amount
        if second >= 0 { overflow[base + second] &+= secondAmount }
    }

    func gateAccepted(slot: Int) {
        add(slot: slot, Layout.outcomes)
    }

    func gateRejected(slot: Int, _ rejection: GateRejection) {
        add(slot: slot, Layout.outcomes + GateOutcome.index(rejection))
    }

    func response(slot: Int, route: Route, status: UInt) {
        let statusClass = Int(min(max(status / 100, 1), 5)) - 1
        add(slot: slot, Layout.requests + route.rawValue * Layout.statusClassCount + statusClass)
    }

    /// Time from the request head sent upstream to the response head.
    func upstreamResponded(slot: Int, isAPI: Bool, after elapsed: TimeAmount) {
        let nanoseconds = max(0, elapsed.nanoseconds)
        var bucket = 0
        let bounds = Layout.latencyBounds
        while bucket < bounds.count, nanoseconds > bounds[bucket] { bucket += 1 }
        let base = Layout.latency + (isAPI ? 0 : Layout.latencyStride)
        add(slot: slot, base + bucket, and: base + Layout.latencyStride - 1, Int(nanoseconds))
    }

    func upstreamFailed(slot: Int) {
        add(slot: slot, Layout.upstreamFailures)
    }

    func connectionOpened() { openConnections += 1 }
    func connectionClosed() { openConnections -= 1 }

    /// A copy for the scrape, taken on this loop.
    func snapshot() -> Snapshot {
        Snapshot(counts: Array(fixed) + overflow, known: known, openConnections: openConnections)
    }

    /// One loop's figures, or the sum of several.
    struct Snapshot: Sendable, Equatable {
        var counts: [Int] = []
        var known: [Bool] = []
        var openConnections = 0

        /// Cell by cell; loops that have not seen as many slots contribute zeros.
        mutating func add(_ other: Snapshot) {
            if other.known.count > known.count {
                counts.append(contentsOf: repeatElement(0, count: other.counts.count - counts.count))
                known.append(contentsOf: repeatElement(false, count: other.known.count - known.count))
            }
            for i in other.counts.indices { counts[i] &+= other.counts[i] }
            for i in other.known.indices where other.known[i] { known[i] = true }
            openConnections += other.openConnections
        }

        func cell(slot: Int, _ cell: Int) -> Int {
            let index = slot * Layout.stride + cell
            return index < counts.count ? counts[index] : 0
        }
    }
}
