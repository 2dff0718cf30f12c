import Foundation
import GatehouseAuth
import GatehouseCore
@_spi(Benchmarks) @testable import GatehouseProxy
import GatehouseTesting
import NIOEmbedded
import NIOHTTP1
import Testing

/// The gate's in-place look-up of a cached `Authorization` token (no copy of the token, no
/// array of the field's values) decides exactly as the general path: a token cached by one
/// request is found again whatever the spacing and case of `Bearer`, but only from a request
/// that has one well-formed `Authorization` field; a cookie token still meets the
/// `__client_uat` rule. Run with a key set that can verify nothing, so that only a cache hit
/// accepts.
@Suite struct APIGateTests {
    static let issuer = "https://issuer.test"
    static let now = 1_800_000_000.0

    static func app(keys: VerificationKeySet) throws -> AppRuntime {
        try AppRuntime(config: configuration(), index: 0, keySource: StaticKeySource(keys: keys), devIssuer: nil)
    }

    /// A `jwt` app trusting ``issuer`` for audience `api`.
    static func configuration() -> AppConfiguration {
        var auth = AuthConfiguration()
        auth.mode = .jwt
        auth.issuer = issuer
        auth.audience = ["api"]
        auth.jwksURL = "https://issuer.test/.well-known/jwks.json"
        return AppConfiguration(
            id: "app_gate", org: "org_gate", upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: 9),
            api: APIConfiguration(upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: 9), ownerKey: Secret("sk_owner")),
            auth: auth
        )
    }

    static func evaluate(_ app: AppRuntime, _ headers: HTTPHeaders, _ cache: inout VerifiedTokenCache) -> String {
        switch APIGate.evaluate(app: app, headers: headers, cache: &cache, now: now, eventLoop: EmbeddedEventLoop()) {
        case .accept(let identity, _, _): return "accept \(identity.id)"
        case .reject(let rejection): return "reject \(rejection)"
        case .waitForKeys: return "wait"
        }
    }

    static let malformed = "reject unauthenticated(GatehouseAuth.TokenRejectionReason.malformed)"

    /// A token of `user_gate`, verified once by an app that can verify it, so it is cached.
    static func cachedToken() throws -> (TestKey, String, AppRuntime, VerifiedTokenCache) {
        let key = try TestKey.shared(.rsa2048)
        let token = TokenFactory.token(key: key, claims: TokenFactory.claims(sub: "user_gate", now: now, ttl: 300, iss: issuer, aud: "api"))
        var cache = VerifiedTokenCache()
        let verifying = try app(keys: TokenFactory.keySet([key]))
        #expect(evaluate(verifying, ["Authorization": "Bearer \(token)"], &cache) == "accept user_gate")
        return (key, token, verifying, cache)
    }

    @Test func aCachedBearerTokenIsFoundInPlaceOnlyFromOneWellFormedField() throws {
        let (key, token, _, cached) = try Self.cachedToken()
        var cache = cached
        #expect(cache.count == 1)

        let blind = try Self.app(keys: .empty)
        for value in ["Bearer \(token)", "  bearer   \(token) ", "BEARER \(token)\t"] {
            #expect(Self.evaluate(blind, ["Authorization": value], &cache) == "accept user_gate", "\(value)")
        }
        // The cached token does not make a malformed request acceptable.
        let malformed = Self.malformed
        #expect(Self.evaluate(blind, ["Authorization": "Bearer \(token)", "authorization": "Bearer \(token)"], &cache) == malformed)
        #expect(Self.evaluate(blind, ["Authorization": "Token \(token)"], &cache) == malformed)
        #expect(Self.evaluate(blind, ["Authorization": "Bearer \(token) x"], &cache) == malformed)
        // Uncached: the general path, which this key set cannot verify.
        let other = TokenFactory.token(key: key, claims: TokenFactory.claims(sub: "user_other", now: Self.now, ttl: 300, iss: Self.issuer, aud: "api"))
        #expect(Self.evaluate(blind, ["Authorization": "Bearer \(other)"], &cache).hasPrefix("reject unauthenticated"))
        #expect(cache.count == 1)

        // A cookie token is looked up too, and still meets Clerk's `__client_uat` rule.
        #expect(Self.evaluate(blind, ["Cookie": "__session=\(token)"], &cache) == "accept user_gate")
        #expect(Self.evaluate(blind, ["Cookie": "__session=\(token); __client_uat=\(Int(Self.now) + 10)"], &cache)
            == "reject unauthenticated(GatehouseAuth.TokenRejectionReason.expired)")
    }

    /// The token is looked up before its characters are checked (the cache holds only
    /// verified JWTs, compared whole); whatever is not in it is still checked, so a token
    /// with a control, non-ASCII or space byte is malformed whether or not a token close to
    /// it is cached.
    @Test func aTokenOutsideVisibleASCIIIsMalformedWhateverTheCacheHolds() throws {
        let (_, token, verifying, cached) = try Self.cachedToken()
        var cache = cached
        let malformed = Self.malformed
        let middle = token.index(token.startIndex, offsetBy: token.count / 2)
        // A space only inside: around the token it is the separator or trailing white space.
        for odd in ["\u{1}", "\u{7f}", "é", " ", "\u{0}"] {
            let variants = odd == " " ? [token[..<middle] + odd + token[middle...]] : [token + odd, odd + token, token[..<middle] + odd + token[middle...]]
            for variant in variants {
                #expect(Self.evaluate(verifying, ["Authorization": "Bearer \(variant)"], &cache) == malformed, "\(odd.unicodeScalars.map(\.value))")
            }
        }
        var empty = VerifiedTokenCache()
        #expect(Self.evaluate(verifying, ["Authorization": "Bearer caf\u{e9}"], &empty) == malformed)
        #expect(cache.count == 1)
    }
}
