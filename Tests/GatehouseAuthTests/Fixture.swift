import GatehouseAuth
import GatehouseTesting

/// Keys, key set and policy shared by the verifier tests (RSA generation is slow: once per run).
struct Fixture: Sendable {
    static let now: Double = 1_700_000_000
    static let issuer = "https://issuer.example"
    static let audience = "convex"
    static let party = "https://app.example"

    let rsa: TestKey
    let p256: TestKey
    let p384: TestKey
    let ed25519: TestKey
    /// Same RSA material published under another kid with `alg: RS256`.
    let rsaRS256Only: TestKey
    /// An RSA key that is not in the JWKS.
    let otherRSA: TestKey
    let keys: VerificationKeySet
    let policy: TokenVerificationPolicy

    private static let cached: Fixture? = try? Fixture()

    static func make() throws -> Fixture {
        if let cached { return cached }
        return try Fixture()
    }

    private init() throws {
        rsa = try TestKey.shared(.rsa2048)
        p256 = try TestKey.shared(.p256)
        p384 = try TestKey.shared(.p384)
        ed25519 = try TestKey.shared(.ed25519)
        rsaRS256Only = rsa.withKid("rsa-rs256-only")
        otherRSA = try TestKey.generate(.rsa2048, kid: rsa.kid)
        var jwks = [rsa, p256, p384, ed25519].map { $0.publicJWK() }
        jwks.append(rsaRS256Only.publicJWK(alg: .rs256))
        keys = try VerificationKeySet(jwksJSON: TokenFactory.jwksJSON(jwks))
        policy = TokenVerificationPolicy(
            issuer: Self.issuer, audience: [Self.audience], authorizedParties: [Self.party], clockSkew: 5,
            rejectPendingSessions: true)
    }

    /// Claims that pass the policy at ``now``.
    func goodClaims(extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
        TokenFactory.claims(
            now: Self.now, ttl: 60, iss: Self.issuer, aud: .string(Self.audience), azp: Self.party, extra: extra)
    }

    func verify(_ token: String, now: Double = Fixture.now) -> TokenVerificationOutcome {
        TokenVerifier(policy: policy).verify(token, keys: keys, now: now)
    }
}
