/// Durations counted per tenth of a millisecond — the precision records carry — so
/// nearest-rank percentiles are exact while memory grows with distinct values, not
/// with the number of calls.
public struct DurationHistogram: Sendable {
    private var counts: [Int: Int] = [:]
    public private(set) var total = 0

    public init() {}

    public mutating func add(_ ms: Double) {
        let tenths = ms.isFinite && ms > 0 ? Int((ms * 10).rounded()) : 0
        counts[tenths, default: 0] += 1
        total += 1
    }

    /// Nearest-rank percentile (`p` in 0…100), in ms; 0 when empty.
    public func percentile(_ p: Double) -> Double {
        guard total > 0 else { return 0 }
        let rank = max(1, Int((p / 100 * Double(total)).rounded(.up)))
        var seen = 0
        for key in counts.keys.sorted() {
            seen += counts[key] ?? 0
            if seen >= rank { return Double(key) / 10 }
        }
        return 0
    }
}
