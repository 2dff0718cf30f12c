import GatehouseAuth
import GatehouseCore

/// Tokens already verified on this event loop, so a repeated token (a browser polling the
/// API with the same 60 s Clerk token) costs a dictionary look-up, not a signature check.
///
/// One per app per event loop, touched only on that loop: no lock. Bounded: at capacity
/// it first drops expired entries, then everything (cheap, and only a cache).
@_spi(Benchmarks) public struct VerifiedTokenCache {
    private struct Entry {
        var verified: VerifiedToken
        /// When the gate last reported this token's user as seen (see ``Hit/sightingDue``).
        var sightedAt: Double
    }

    /// Equal when the whole token is; hashed by its last 16 bytes only. A JWT ends in its
    /// signature, which differs between any two tokens a key signed: 16 base64url
    /// characters of it are 96 random bits, which spread entries as well as the whole text,
    /// at a fraction of the hashing (a 700-byte token was SipHashed whole on every request,
    /// ~1% of the `/_api` profile; its last 64 bytes still ~860 instructions). Equal tails
    /// cost no more than a probe: only verified tokens are ever inserted (no one can fill
    /// a bucket on purpose), and equality still compares every byte.
    ///
    /// A `Substring`, so that a request's token is looked up in place, inside its
    /// `Authorization` value (a copy was an allocation and ~700 bytes per request). Inserted
    /// keys are the verified credential's own `String`, never a slice of a larger header: a
    /// cached slice of a `Cookie` field would keep the whole field alive.
    struct Key: Hashable {
        let token: Substring

        static func == (a: Key, b: Key) -> Bool { a.token == b.token }

        static let hashedBytes = 16

        func hash(into hasher: inout Hasher) {
            token.withUTF8Bytes { hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0.suffix(Self.hashedBytes)))) }
        }
    }

    private var entries: [Key: Entry] = [:]
    let capacity: Int
    /// The JWS headers this app's tokens came with on this loop, parsed once each: a new
    /// token (or a forged one) under a known header skips the header's decode and parse.
    var headers = JOSEHeaderCache()
    /// How often one token's user is reported as seen from this loop. Stored `last_seen`
    /// values have a 60 s resolution, so reporting every request only took a lock.
    static let sightingInterval: Double = 1

    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// A cached verification, and whether its user is due to be reported as seen.
    struct Hit {
        var verified: VerifiedToken
        /// At most once per ``sightingInterval`` per token and loop (and at once if the
        /// clock went back); the verification that filled the entry counts as one.
        var sightingDue: Bool
    }

    /// The cached verification, if the token has not expired (`exp` + skew) by `now`; marks
    /// a due sighting as reported. One hash of the token's tail per request.
    mutating func lookup(_ token: Substring, now: Double, clockSkew: Double) -> Hit? {
        guard let index = entries.index(forKey: Key(token: token)) else { return nil }
        let entry = entries.values[index]
        if now >= entry.verified.expiresAt + clockSkew {
            entries.remove(at: index)
            return nil
        }
        let due = now - entry.sightedAt >= Self.sightingInterval || now < entry.sightedAt
        if due { entries.values[index].sightedAt = now }
        return Hit(verified: entry.verified, sightingDue: due)
    }

    mutating func lookup(_ token: String, now: Double, clockSkew: Double) -> Hit? {
        lookup(token[...], now: now, clockSkew: clockSkew)
    }

    /// Only for a token that verified: `APIGate` looks a bearer token up before checking its
    /// characters, relying on every cached token being a well-formed JWT.
    mutating func insert(_ token: String, _ verified: VerifiedToken, now: Double, clockSkew: Double) {
        if entries.count >= capacity {
            entries = entries.filter { now < $0.value.verified.expiresAt + clockSkew }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        }
        entries[Key(token: token[...])] = Entry(verified: verified, sightedAt: now)
    }

    public var count: Int { entries.count }
}
