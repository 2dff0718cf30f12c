import GatehouseAuth

/// Tokens already verified on this event loop, so a repeated token (a browser polling the
/// API with the same 60 s Clerk token) costs a dictionary look-up, not a signature check.
///
/// One per app per event loop, touched only on that loop: no lock. Bounded: at capacity
/// it first drops expired entries, then everything (cheap, and only a cache).
@_spi(Benchmarks) public struct VerifiedTokenCache {
    private struct Entry {
        var verified: VerifiedToken
        /// When the gate last reported this token's user as seen (see ``sightingDue``).
        var sightedAt: Double
    }

    private var entries: [String: Entry] = [:]
    let capacity: Int
    /// How often one token's user is reported as seen from this loop. Stored `last_seen`
    /// values have a 60 s resolution, so reporting every request only took a lock.
    static let sightingInterval: Double = 1

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// The cached verification, if the token has not expired (`exp` + skew) by `now`.
    mutating func lookup(_ token: String, now: Double, clockSkew: Double) -> VerifiedToken? {
        guard let hit = entries[token] else { return nil }
        if now >= hit.verified.expiresAt + clockSkew {
            entries[token] = nil
            return nil
        }
        return hit.verified
    }

    /// Whether the user of a cached `token` is due to be reported as seen at `now` (and if
    /// so, marks it reported). A token not in the cache is always due.
    mutating func sightingDue(_ token: String, now: Double) -> Bool {
        guard let sightedAt = entries[token]?.sightedAt else { return true }
        guard now - sightedAt >= Self.sightingInterval || now < sightedAt else { return false }
        entries[token]?.sightedAt = now
        return true
    }

    mutating func insert(_ token: String, _ verified: VerifiedToken, now: Double, clockSkew: Double) {
        if entries.count >= capacity {
            entries = entries.filter { now < $0.value.verified.expiresAt + clockSkew }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        }
        entries[token] = Entry(verified: verified, sightedAt: now)
    }

    public var count: Int { entries.count }
}
