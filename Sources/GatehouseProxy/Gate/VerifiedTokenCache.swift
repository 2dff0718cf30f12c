import GatehouseAuth

/// Tokens already verified on this event loop, so a repeated token (a browser polling the
/// API with the same 60 s Clerk token) costs a dictionary look-up, not a signature check.
///
/// One per app per event loop, touched only on that loop: no lock. Bounded: at capacity
/// it first drops expired entries, then everything (cheap, and only a cache).
@_spi(Benchmarks) public struct VerifiedTokenCache {
    private var entries: [String: VerifiedToken] = [:]
    let capacity: Int

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// The cached verification, if the token has not expired (`exp` + skew) by `now`.
    mutating func lookup(_ token: String, now: Double, clockSkew: Double) -> VerifiedToken? {
        guard let hit = entries[token] else { return nil }
        if now >= hit.expiresAt + clockSkew {
            entries[token] = nil
            return nil
        }
        return hit
    }

    mutating func insert(_ token: String, _ verified: VerifiedToken, now: Double, clockSkew: Double) {
        if entries.count >= capacity {
            entries = entries.filter { now < $0.value.expiresAt + clockSkew }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        }
        entries[token] = verified
    }

    public var count: Int { entries.count }
}
