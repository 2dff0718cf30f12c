import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// JWKS behaviour over the wire (SPEC "The /_api gate", JWKS): rotation by an on-demand
/// refetch, the 30 s limit, outages, start while the issuer is down, and the verified-token
/// cache. Each test has its own issuer, so fetch counts are its own.
@Suite struct JWKSLiveTests {
    static func jwks(_ keys: [TestKey]) -> String { String(decoding: TokenFactory.jwksJSON(keys: keys), as: UTF8.self) }

    @Test func rotatedKeyIsPickedUpByOneRefetchAndTheLimitHolds() async throws {
        let rig = try await GateRig.start()
        let before = rig.jwks.fetchCount
        #expect(before >= 1)
        let rotated = try TestKey.generate(.p256, kid: "kid-rotated")
        rig.jwks.publish(Self.jwks([rig.key, rotated]))

        let response = try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(key: rotated, sub: "user_rotated")))
        #expect(response.status == 200)
        #expect(rig.jwks.fetchCount == before + 1)
        #expect(rig.api.requests.first?.values("X-Gatehouse-User") == ["user_rotated"])

        // A second unknown kid within 30 s: no new fetch, plain unknown_kid.
        let another = try TestKey.generate(.p256, kid: "kid-another")
        rig.jwks.publish(Self.jwks([rig.key, rotated, another]))
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(key: another))), "unknown_kid")
        #expect(rig.jwks.fetchCount == before + 1)
        // Both known keys keep working without fetching.
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token())).status == 200)
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(key: rotated, sub: "user_other"))).status == 200)
        #expect(rig.jwks.fetchCount == before + 1)
        await rig.stop()
    }

    @Test func lastGoodKeysServeThroughAnOutage() async throws {
        let rig = try await GateRig.start()
        rig.jwks.setFailing(true)
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(sub: "user_a"))).status == 200)

        // An unknown kid while the refetch fails is the issuer's fault: 503, not 401.
        let before = rig.jwks.fetchCount
        let unknown = rig.token(key: rig.key.withKid("kid-during-outage"))
        Gate.expectUnavailable(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(unknown)))
        #expect(rig.jwks.fetchCount == before + 1)
        // Within 30 s the limit holds the next fetch back: still 503, no fetch.
        Gate.expectUnavailable(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(unknown)))
        #expect(rig.jwks.fetchCount == before + 1)

        // The old key still works, without touching the issuer.
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(sub: "user_b"))).status == 200)
        #expect(rig.jwks.fetchCount == before + 1)
        #expect(rig.api.requests.count == 2)
        await rig.stop()
    }

    @Test func startWhileIssuerFailsIs503UntilKeysLoad() async throws {
        let rig = try await GateRig.start(waitForKeys: false, jwksFailing: true)
        let token = rig.token()
        Gate.expectUnavailable(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(token)))
        Gate.expectUnavailable(try await rig.gatehouse.request("GET", "/_api/x", headers: [("Cookie", "__session=" + token)]))
        // No credential is still the user's problem.
        Gate.expectMissing(try await rig.gatehouse.request("GET", "/_api/x"))
        #expect(rig.api.requests.isEmpty)
        let notReady = try await rig.admin("/readyz")
        #expect(notReady.status == 503)
        #expect(try await rig.admin("/healthz").status == 200)

        rig.jwks.setFailing(false)
        // Retried every 5 s while nothing was ever loaded: poll readiness, bounded.
        try await rig.waitUntil(timeout: .seconds(20)) { (try? await rig.admin("/readyz").status) == 200 }
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(token)).status == 200)
        #expect(rig.api.requests.count == 1)
        await rig.stop()
    }

    @Test func verifiedTokenIsServedFromCacheAfterItsKeyIsGone() async throws {
        // One event loop: the cache is per loop.
        let rig = try await GateRig.start { $0.eventLoops = 1 }
        let cached = rig.token(sub: "user_cached")
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(cached)).status == 200)

        // The issuer drops the key; a token with a new kid makes Gatehouse load that set.
        let next = try TestKey.generate(.p256, kid: "kid-next")
        rig.jwks.publish(Self.jwks([next]))
        let before = rig.jwks.fetchCount
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(key: next, sub: "user_next"))).status == 200)
        #expect(rig.jwks.fetchCount == before + 1)

        // The token seen before still passes: no second signature check …
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(cached)).status == 200)
        // … while a new token under the removed kid needs one, and fails.
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(sub: "user_new"))), "unknown_kid")
        #expect(rig.api.requests.map { $0.values("X-Gatehouse-User").first ?? "" } == ["user_cached", "user_next", "user_cached"])
        await rig.stop()
    }

    @Test func cachedTokenStillExpires() async throws {
        // A clock the test moves: the cache must honour `exp` (+ skew) like the verifier.
        let clock = TestClock(Date().timeIntervalSince1970)
        let key = try TestKey.shared(.rsa2048)
        let jwks = try await JWKSServer.start(jwks: Self.jwks([key]))
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        var auth = AuthConfiguration()
        auth.jwksURL = jwks.url
        let config = TestGatehouse.configuration(appUpstream: api.url, apiUpstream: api.url, auth: auth) { $0.eventLoops = 1 }
        let gatehouse = try await TestGatehouse.start(config, clock: { clock.now })
        _ = try await GateRig.poll { gatehouse.instance.isReady }
        let token = TokenFactory.token(key: key, claims: TokenFactory.claims(now: clock.now, ttl: 60))
        #expect(try await gatehouse.request("GET", "/_api/x", headers: Gate.bearer(token)).status == 200)
        clock.advance(30)
        #expect(try await gatehouse.request("GET", "/_api/x", headers: Gate.bearer(token)).status == 200)
        clock.advance(40) // past exp + 5 s skew
        Gate.expectRejected(try await gatehouse.request("GET", "/_api/x", headers: Gate.bearer(token)), "expired")
        #expect(api.requests.count == 2)
        await gatehouse.stop()
        await api.stop()
        await jwks.stop()
    }
}
