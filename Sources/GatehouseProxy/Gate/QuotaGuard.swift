import Atomics
import GatehouseCore
import GatehouseMetering
import NIOConcurrencyHelpers

/// `quotas` (SPEC "Metering", issue: protect the owner's bill): a token bucket per user
/// per app (`user_requests_per_minute`) and a calendar-month counter per org
/// (`org_requests_per_month`, UTC).
///
/// Users' buckets live in 32 shards, each behind its own lock, picked by the user id's
/// hash: requests of different users rarely meet, and there is no global lock. The month
/// counter is an atomic. Only apps with a non-zero quota touch any of it.
public final class QuotaGuard: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    private static let shardCount = 32
    private static let maxBucketsPerShard = 50_000

    private let perMinute: Int
    private let perMonth: Int
    private let shards: [NIOLockedValueBox<[String: Bucket]>]
    private let month: OrgMonthCounter?

    public init(_ config: QuotasConfiguration, month: OrgMonthCounter?) {
        self.perMinute = config.userRequestsPerMinute
        self.perMonth = config.orgRequestsPerMonth
        self.shards = (0..<Self.shardCount).map { _ in NIOLockedValueBox([:]) }
        self.month = config.orgRequestsPerMonth > 0 ? month : nil
    }

    public var isUnlimited: Bool { perMinute == 0 && perMonth == 0 }

    /// Admits one call for `user` at `now` (seconds), or says how many seconds to wait.
    /// Rejected calls consume nothing.
    public func admit(user: String, now: Double) -> Int? {
        if perMinute > 0, let wait = takeToken(user: user, now: now) { return wait }
        if perMonth > 0, let month, let wait = month.admit(limit: perMonth, nowMs: Int64(now * 1000)) {
            if perMinute > 0 { returnToken(user: user) }
            return wait
        }
        return nil
    }

    private func shard(_ user: String) -> NIOLockedValueBox<[String: Bucket]> {
        var hasher = Hasher()
        hasher.combine(user)
        return shards[Int(UInt(bitPattern: hasher.finalize()) % UInt(Self.shardCount))]
    }

    private func takeToken(user: String, now: Double) -> Int? {
        let capacity = Double(perMinute)
        let rate = capacity / 60
        return shard(user).withLockedValue { buckets -> Int? in
            var bucket = buckets[user] ?? Bucket(tokens: capacity, updated: now)
            bucket.tokens = min(capacity, bucket.tokens + max(0, now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                if buckets.count >= Self.maxBucketsPerShard, buckets[user] == nil {
                    // Full buckets carry no state worth keeping: forget them first.
                    buckets = buckets.filter { $0.value.tokens + (now - $0.value.updated) * rate < capacity }
                }
                buckets[user] = bucket
                return nil
            }
            buckets[user] = bucket
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }

    private func returnToken(user: String) {
        let capacity = Double(perMinute)
        shard(user).withLockedValue { buckets in
            if var bucket = buckets[user] {
                bucket.tokens = min(capacity, bucket.tokens + 1)
                buckets[user] = bucket
            }
        }
    }
}

/// Calls an org made this UTC month, shared by every app of the org in this process.
/// Seeded at start from the meter logs (so the count survives a restart), then counted
/// here; replicas each add their own calls to the seed they read.
public final class OrgMonthCounter: Sendable {
    /// Month index (year × 12 + month) and the count, packed so one CAS moves both.
    private let state: ManagedAtomic<Int>

    public init(seed: Int, nowMs: Int64) {
        self.state = ManagedAtomic(Self.pack(month: Self.monthIndex(nowMs), count: seed))
    }

    /// Counts one call unless the month's `limit` is reached; else seconds until the month ends.
    func admit(limit: Int, nowMs: Int64) -> Int? {
        let month = Self.monthIndex(nowMs)
        var current = state.load(ordering: .relaxed)
        while true {
            let (storedMonth, storedCount) = Self.unpack(current)
            let count = storedMonth == month ? storedCount : 0
            if count >= limit {
                let reset = UTCTimestamp.startOfNextMonth(milliseconds: nowMs)
                return max(1, Int((reset - nowMs + 999) / 1000))
            }
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: Self.pack(month: month, count: count + 1), ordering: .relaxed
            )
            if exchanged { return nil }
            current = original
        }
    }

    public var count: Int { Self.unpack(state.load(ordering: .relaxed)).1 }

    private static func monthIndex(_ ms: Int64) -> Int {
        let c = UTCTimestamp.civil(milliseconds: ms)
        return c.year * 12 + c.month - 1
    }

    private static func pack(month: Int, count: Int) -> Int { month << 40 | (count & 0xff_ffff_ffff) }
    private static func unpack(_ v: Int) -> (Int, Int) { (v >> 40, v & 0xff_ffff_ffff) }
}
