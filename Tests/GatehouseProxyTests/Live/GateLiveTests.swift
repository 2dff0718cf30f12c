import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// End to end over sockets: a JWKS issuer, app and API upstreams and Gatehouse, all
/// real NIO servers on 127.0.0.1.
@Suite struct GateLiveTests {
    struct Rig {
        let gatehouse: TestGatehouse
        let app: TestHTTPServer
        let api: TestHTTPServer
        let jwks: JWKSServer
        let key: TestKey

        func stop() async {
            await gatehouse.stop()
            await app.stop()
            await api.stop()
            await jwks.stop()
        }

        func token(sub: String = "user_live", ttl: Double = 120, extra: [String: JSONValue] = [:]) -> String {
            TokenFactory.token(key: key, claims: TokenFactory.claims(
                sub: sub, now: Date().timeIntervalSince1970, ttl: ttl, iss: "https://issuer.test", aud: "api", extra: extra))
        }
    }

    static func rig(configure: @escaping (inout GatehouseConfiguration) -> Void = { _ in }) async throws -> Rig {
        let key = try TestKey.shared(.rsa2048)
        let jwks = try await JWKSServer.start(jwks: String(decoding: TokenFactory.jwksJSON(keys: [key]), as: UTF8.self))
        let app = try await TestHTTPServer.start { r in .fixed(body: "app " + r.path) }
        let api = try await TestHTTPServer.start { r in .fixed(headers: [("Content-Type", "application/json")], body: #"{"api":"\#(r.path)"}"#) }
        var auth = AuthConfiguration()
        auth.mode = .jwt
        auth.jwksURL = jwks.url
        auth.issuer = "https://issuer.test"
        auth.audience = ["api"]
        let config = TestGatehouse.configuration(appUpstream: app.url, apiUpstream: api.url, auth: auth, configure: configure)
        let gatehouse = try await TestGatehouse.start(config)
        // Wait for the first JWKS fetch (readiness), bounded.
        for _ in 0..<200 where !gatehouse.instance.isReady { try await Task.sleep(for: .milliseconds(10)) }
        return Rig(gatehouse: gatehouse, app: app, api: api, jwks: jwks, key: key)
    }

    @Test func validTokenIsForwardedWithOwnerKeyAndIdentity() async throws {
        let rig = try await Self.rig()
        let response = try await rig.gatehouse.request("GET", "/_api/v1/items?x=1", headers: [("Authorization", "Bearer " + rig.token())])
        #expect(response.status == 200)
        #expect(response.text == #"{"api":"/v1/items"}"#)
        let recorded = try #require(rig.api.requests.first)
        #expect(recorded.uri == "/v1/items?x=1")
        #expect(recorded.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
        #expect(recorded.values("X-Gatehouse-User") == ["user_live"])
        #expect(recorded.values("X-Gatehouse-Org") == ["org_test"])
        #expect(recorded.values("X-Gatehouse-App") == ["app_test"])
        #expect(recorded.values("X-Request-Id").first?.count == 32)
        await rig.stop()
    }

    @Test func missingTokenIs401AndNeverReachesTheAPI() async throws {
        let rig = try await Self.rig()
        let response = try await rig.gatehouse.request("GET", "/_api/v1/items")
        #expect(response.status == 401)
        #expect(response.text == #"{"error":"unauthenticated","reason":"missing_token"}"#)
        #expect(response.header("WWW-Authenticate") == #"Bearer realm="gatehouse""#)
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }
}
