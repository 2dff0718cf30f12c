import GatehouseAuth
import Testing
@_spi(Benchmarks) @testable import GatehouseProxy

/// Tier 1: the per-loop verified-token cache — hits until `exp` + skew, and bounded.
@Suite struct VerifiedTokenCacheTests {
    static func verified(_ sub: String, exp: Double) -> VerifiedToken {
        VerifiedToken(subject: sub, expiresAt: exp, issuedAt: exp - 60, email: nil, name: nil, picture: nil, claims: [:])
    }

    @Test func hitUntilExpiryPlusSkewThenGone() {
        var cache = VerifiedTokenCache(capacity: 10)
        cache.insert("t1", Self.verified("u1", exp: 100), now: 50, clockSkew: 5)
        #expect(cache.lookup("t1", now: 60, clockSkew: 5)?.verified.subject == "u1")
        #expect(cache.lookup("t1", now: 104.9, clockSkew: 5)?.verified.subject == "u1")
        #expect(cache.lookup("t1", now: 105, clockSkew: 5) == nil)
        #expect(cache.count == 0)
        // Once dropped it stays dropped, whatever the clock says later.
        #expect(cache.lookup("t1", now: 60, clockSkew: 5) == nil)
        #expect(cache.lookup("other", now: 60, clockSkew: 5) == nil)
    }

    /// A cached token's user is reported as seen at most once per second per loop (the
    /// store keeps `last_seen` to 60 s anyway); the verification itself counts as one.
    @Test func sightingsOfOneTokenAreThrottled() {
        var cache = VerifiedTokenCache(capacity: 10)
        cache.insert("t1", Self.verified("u1", exp: 1000), now: 100, clockSkew: 5)
        let due = [100.5, 101.0, 101.9, 102.1, 50].map { cache.lookup("t1", now: $0, clockSkew: 5)?.sightingDue }
        // A clock that went back (50) reports at once.
        #expect(due == [false, true, false, true, true])
    }

    @Test func keyIsTheWholeTokenText() {
        var cache = VerifiedTokenCache(capacity: 10)
        cache.insert("a.b.c", Self.verified("u1", exp: 100), now: 0, clockSkew: 0)
        #expect(cache.lookup("a.b.C", now: 1, clockSkew: 0) == nil)
        #expect(cache.lookup("a.b.c ", now: 1, clockSkew: 0) == nil)
        #expect(cache.lookup("a.b.c", now: 1, clockSkew: 0) != nil)
    }

    /// Entries are hashed by the token's tail (its signature) but told apart by the whole
    /// text: a token that ends like a cached one and differs before (a forged header or
    /// payload under a copied signature) is not a hit.
    @Test func aTokenEndingLikeACachedOneIsNotAHit() {
        let signature = String(repeating: "s", count: 342)
        let cached = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ." + signature
        let forged = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9." + signature
        var cache = VerifiedTokenCache(capacity: 10)
        cache.insert(cached, Self.verified("user_1", exp: 100), now: 0, clockSkew: 0)
        #expect(cache.lookup(forged, now: 1, clockSkew: 0) == nil)
        #expect(cache.lookup(cached, now: 1, clockSkew: 0)?.verified.subject == "user_1")
        cache.insert(forged, Self.verified("admin", exp: 100), now: 0, clockSkew: 0)
        #expect(cache.count == 2)
        #expect(cache.lookup(cached, now: 1, clockSkew: 0)?.verified.subject == "user_1")
    }

    @Test func atCapacityExpiredEntriesGoFirst() {
        var cache = VerifiedTokenCache(capacity: 3)
        cache.insert("old1", Self.verified("o1", exp: 10), now: 0, clockSkew: 0)
        cache.insert("old2", Self.verified("o2", exp: 10), now: 0, clockSkew: 0)
        cache.insert("live", Self.verified("l", exp: 1_000), now: 0, clockSkew: 0)
        #expect(cache.count == 3)
        cache.insert("new", Self.verified("n", exp: 1_000), now: 20, clockSkew: 0)
        #expect(cache.count == 2)
        #expect(cache.lookup("live", now: 20, clockSkew: 0) != nil)
        #expect(cache.lookup("new", now: 20, clockSkew: 0) != nil)
    }

    @Test func neverGrowsBeyondCapacity() {
        var cache = VerifiedTokenCache(capacity: 8)
        for i in 0..<1_000 {
            cache.insert("token-\(i)", Self.verified("u\(i)", exp: 1_000_000), now: 0, clockSkew: 5)
            #expect(cache.count <= 8)
        }
        // The newest entry is always kept.
        #expect(cache.lookup("token-999", now: 1, clockSkew: 5)?.verified.subject == "u999")
    }
}
