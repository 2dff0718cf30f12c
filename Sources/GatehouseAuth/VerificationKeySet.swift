/// An immutable snapshot of the keys one app trusts, shared across event loops.
///
/// Built off the loop (from a JWKS fetch or `jwt_key`) and swapped atomically by its owner; the
/// hot path only reads it. Keys are found by `kid`; a key without a `kid` (the first one given)
/// becomes the ``keylessFallback`` that is tried for a token whose `kid` is missing or unknown.
public final class VerificationKeySet: Sendable {
    private let byKid: [String: VerificationKey]
    /// Every key in the set, in the order given.
    public let keys: [VerificationKey]
    /// A key without a `kid` (from `jwt_key`, or a JWKS entry without one), used for any `kid`.
    public let keylessFallback: VerificationKey?

    /// A set of keys; for a repeated `kid` the first key wins.
    public init(keys: [VerificationKey]) {
        var byKid: [String: VerificationKey] = [:]
        var fallback: VerificationKey?
        for key in keys {
            if let kid = key.kid {
                if byKid[kid] == nil { byKid[kid] = key }
            } else if fallback == nil {
                fallback = key
            }
        }
        self.byKid = byKid
        self.keys = keys
        self.keylessFallback = fallback
    }

    /// Parses a JWKS document (RFC 7517 §5). Entries that are unusable (unknown `kty`/`crv`/`alg`,
    /// `use` other than `sig`, `key_ops` without `verify`, bad key material) are skipped; this
    /// throws only when the document is not a JWKS at all.
    public convenience init(jwksJSON: some Collection<UInt8>) throws(AuthKeyError) {
        guard let document = try? StrictJSON.parse(jwksJSON),
            let object = document.objectValue,
            let entries = object["keys"]?.arrayValue
        else { throw .notAJWKS }
        var keys: [VerificationKey] = []
        keys.reserveCapacity(entries.count)
        for entry in entries {
            guard let jwk = entry.objectValue, let key = try? VerificationKey(jwk: jwk) else { continue }
            keys.append(key)
        }
        self.init(keys: keys)
    }

    /// A set with no keys: every token is `unknown_kid`.
    public static let empty = VerificationKeySet(keys: [])

    /// True when the set holds no key at all.
    public var isEmpty: Bool { keys.isEmpty }

    /// How many keys the set holds.
    public var count: Int { keys.count }

    /// The key with this `kid`, if any.
    public func key(forKid kid: String) -> VerificationKey? { byKid[kid] }

    /// The JWKS document for these keys (for dev mode's `/_auth/jwks.json`).
    public var jwksJSON: String {
        StrictJSON.serialize(.object(["keys": .array(keys.map { .object($0.jwk) })]))
    }
}
