import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// Tokens signed with every key type SPEC names pass end to end, whether the keys come
/// from a JWKS, from `auth.jwt_key`, or from Clerk's publishable key.
@Suite struct KeyTypesLiveTests {
    static let kinds: [TestKeyKind] = [.rsa2048, .p256, .p384, .ed25519]

    static func claims(iss: String = GateRig.issuer, extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
        TokenFactory.claims(sub: "user_keys", now: Date().timeIntervalSince1970, ttl: 120, iss: iss, aud: .string(GateRig.audience), extra: extra)
    }

    @Test func everyKeyTypeFromOneJWKS() async throws {
        let keys = try Self.kinds.map { try TestKey.generate($0, kid: "kid-\($0.rawValue)") }
        let jwks = try await JWKSServer.start(jwks: String(decoding: TokenFactory.jwksJSON(keys: keys), as: UTF8.self))
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        var auth = AuthConfiguration()
        auth.jwksURL = jwks.url
        auth.issuer = GateRig.issuer
        auth.audience = [GateRig.audience]
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(appUpstream: api.url, apiUpstream: api.url, auth: auth))
        #expect(try await GateRig.poll { gatehouse.instance.isReady })
        for key in keys {
            let response = try await gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Bearer " + TokenFactory.token(key: key, claims: Self.claims()))])
            #expect(response.status == 200, "\(key.kind) → \(response.status) \(response.text)")
        }
        // RSA also signs RS384, RS512 and PS256 with the same key.
        for alg in [JWTAlgorithm.rs384, .rs512, .ps256] {
            let token = TokenFactory.token(key: keys[0], alg: alg, claims: Self.claims())
            #expect(try await gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Bearer " + token)]).status == 200, "\(alg)")
        }
        #expect(api.requests.count == 7)
        await gatehouse.stop()
        await api.stop()
        await jwks.stop()
    }

    @Test(arguments: kinds)
    func jwtKeyPEMVerifiesWithoutNetwork(_ kind: TestKeyKind) async throws {
        let key = try TestKey.generate(kind, kid: "pem-\(kind.rawValue)")
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        var auth = AuthConfiguration()
        auth.jwtKey = key.publicKeyPEM
        auth.issuer = GateRig.issuer
        auth.audience = [GateRig.audience]
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(appUpstream: api.url, apiUpstream: api.url, auth: auth))
        let good = try await gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Bearer " + TokenFactory.token(key: key, claims: Self.claims()))])
        #expect(good.status == 200)
        let stranger = try TestKey.generate(kind, kid: "pem-\(kind.rawValue)")
        let bad = try await gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Bearer " + TokenFactory.token(key: stranger, claims: Self.claims()))])
        #expect(bad.status == 401 && bad.text.contains("bad_signature"))
        await gatehouse.stop()
        await api.stop()
    }

    @Test func clerkModeTakesItsIssuerFromThePublishableKey() async throws {
        let key = try TestKey.generate(.rsa2048, kid: "clerk-1")
        let jwks = try await JWKSServer.start(jwks: String(decoding: TokenFactory.jwksJSON(keys: [key]), as: UTF8.self))
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        var auth = AuthConfiguration()
        auth.mode = .clerk
        auth.publishableKey = "pk_test_" + Data("clerk.gatehouse.test$".utf8).base64EncodedString()
        auth.jwksURL = jwks.url  // Clerk itself is out of reach here; its JWKS is served locally
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(appUpstream: api.url, apiUpstream: api.url, auth: auth))
        #expect(try await GateRig.poll { gatehouse.instance.isReady })
        func call(_ claims: [String: JSONValue]) async throws -> TestHTTPResponse {
            try await gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Bearer " + TokenFactory.token(key: key, claims: claims))])
        }
        #expect(try await call(Self.claims(iss: "https://clerk.gatehouse.test")).status == 200)
        #expect(try await call(Self.claims(iss: "https://clerk.other.test")).text.contains("bad_issuer"))
        #expect(try await call(Self.claims(iss: "https://clerk.gatehouse.test", extra: ["sts": "pending"])).text.contains("unauthorized_party"))
        await gatehouse.stop()
        await api.stop()
        await jwks.stop()
    }
}
