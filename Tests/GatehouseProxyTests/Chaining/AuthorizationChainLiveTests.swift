import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// Live: Gatehouse in front of an API that checks `Authorization` itself, alone and as
/// the outer of two Gatehouse in a row (SPEC "The /_api gate": the owner key replaces the
/// client's credential; an api key's identity is `service:<name>`; client-sent
/// `X-Gatehouse-*` are dropped).
@Suite struct AuthorizationChainLiveTests {
    static let innerOwnerKey = "sk_real_api_owner_K2_8d41"
    /// The outer Gatehouse's owner key, which is the inner one's server-to-server api key.
    static let outerOwnerKey = "gk_outer_to_inner_K1_a90c"

    /// An API that answers 401 unless it gets `Authorization: Bearer <key>`.
    static func checkingAuthorization(_ key: String) -> @Sendable (RecordedRequest) -> TestResponse {
        { request in
            guard request.values("Authorization") == ["Bearer " + key] else {
                return .fixed(status: .unauthorized, headers: [("Content-Type", "application/json"), ("WWW-Authenticate", #"Bearer realm="api""#)],
                              body: #"{"error":"api_says_no"}"#)
            }
            return .fixed(headers: [("Content-Type", "application/json")], body: #"{"ok":"\#(request.path)"}"#)
        }
    }

    @Test func anAPIThatChecksAuthorizationGetsTheOwnerKeyAndNeverTheUsersToken() async throws {
        let meterDir = MeteringRig.tempDirectory("chain-authz")
        defer { MeteringRig.remove(meterDir) }
        let rig = try await GateRig.start(apiResponder: Self.checkingAuthorization(TestGatehouse.ownerKey)) { config in
            MeteringRig.meter(&config, dir: meterDir)
        }
        let token = rig.token(sub: "user_authz")
        let viaHeader = try await rig.gatehouse.request("GET", "/_api/v1/private", headers: Gate.bearer(token))
        #expect(viaHeader.status == 200)
        #expect(viaHeader.text == #"{"ok":"/v1/private"}"#)
        let viaCookie = try await rig.gatehouse.request("GET", "/_api/v1/private", headers: [("Cookie", "__session=\(token)")])
        #expect(viaCookie.status == 200)
        // Without a valid token the gate answers; the API is never asked.
        Gate.expectMissing(try await rig.gatehouse.request("GET", "/_api/v1/private"))
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/v1/private", headers: Gate.bearer(rig.token(ttl: -60))), "expired")
        let recorded = rig.api.requests
        try #require(recorded.count == 2)
        for request in recorded {
            #expect(request.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
            #expect(!ChainRig.allHeaderText(request).contains(token))
            #expect(request.values("X-Gatehouse-User") == ["user_authz"])
        }
        await rig.stop()
        #expect(MeteringRig.records(meterDir).map { $0.int("status") } == [200, 200])
    }

    @Test func theAPIsOwn401ReachesTheClientAndIsBilled() async throws {
        // A wrong (say, rotated) owner key: the API's own 401 is its answer, passed on as
        // it is, and billed, since the call was forwarded (only the gate's rejections
        // are not).
        let meterDir = MeteringRig.tempDirectory("chain-authz-401")
        defer { MeteringRig.remove(meterDir) }
        let rig = try await GateRig.start(apiResponder: Self.checkingAuthorization("sk_some_other_key")) { config in
            MeteringRig.meter(&config, dir: meterDir)
        }
        let response = try await rig.gatehouse.request("GET", "/_api/v1/private", headers: Gate.bearer(rig.token(sub: "user_401")))
        #expect(response.status == 401)
        #expect(response.text == #"{"error":"api_says_no"}"#)
        #expect(response.header("www-authenticate") == #"Bearer realm="api""#)
        await rig.stop()
        let records = MeteringRig.records(meterDir)
        #expect(records.map { $0.int("status") } == [401])
        #expect(records.first?.string("outcome") == "ok")
        #expect(records.first?.string("user") == "user_401")
    }

    struct APIChain {
        let api: TestHTTPServer
        let inner: TestGatehouse
        let outer: GateRig
        let innerMeter: String
        let outerMeter: String

        func stop() async {
            await outer.stop()
            await inner.stop()
            await api.stop()
        }

        func removeDirectories() {
            MeteringRig.remove(innerMeter)
            MeteringRig.remove(outerMeter)
        }
    }

    /// outer (users' JWTs, owner key K1) → inner (api key sha256(K1), owner key K2) → API
    /// (accepts K2 only). The outer's API upstream is the inner's gated prefix, `/_api`:
    /// pointed at the inner's root, calls would land on its ungated app route.
    static func startAPIChain() async throws -> APIChain {
        let innerMeter = MeteringRig.tempDirectory("chain-inner")
        let outerMeter = MeteringRig.tempDirectory("chain-outer")
        let api = try await TestHTTPServer.start(responder: checkingAuthorization(innerOwnerKey))
        var innerAuth = AuthConfiguration()
        innerAuth.mode = .jwt
        innerAuth.apiKeys = [APIKeyConfiguration(name: "outer-gatehouse", sha256: APIKeyHash.hex(Array(outerOwnerKey.utf8)))]
        let innerConfig = TestGatehouse.configuration(appUpstream: "http://127.0.0.1:1", apiUpstream: api.url, ownerKey: innerOwnerKey, auth: innerAuth) { config in
            config.apps[0].id = "app_inner"
            config.apps[0].org = "org_inner"
            MeteringRig.meter(&config, dir: innerMeter)
        }
        let inner: TestGatehouse
        do {
            inner = try await TestGatehouse.start(innerConfig)
        } catch {
            await api.stop()
            throw error
        }
        do {
            let outer = try await GateRig.start { config in
                config.apps[0].id = "app_outer"
                config.apps[0].org = "org_outer"
                config.apps[0].api.upstream = UpstreamURL(scheme: .http, host: "127.0.0.1", port: inner.port, basePath: "/_api")
                config.apps[0].api.ownerKey = Secret(outerOwnerKey)
                MeteringRig.meter(&config, dir: outerMeter)
            }
            return APIChain(api: api, inner: inner, outer: outer, innerMeter: innerMeter, outerMeter: outerMeter)
        } catch {
            await inner.stop()
            await api.stop()
            throw error
        }
    }

    @Test func twoGatehouseInARowRewriteTheCredentialTwiceAndBothBill() async throws {
        let chain = try await Self.startAPIChain()
        defer { chain.removeDirectories() }
        let token = chain.outer.token(sub: "user_chained")
        let response = try await chain.outer.gatehouse.request("POST", "/_api/v1/search?q=x", headers: Gate.bearer(token) + [
            ("X-Gatehouse-User", "user_forged"),
        ], body: Array(#"{"q":"x"}"#.utf8))
        #expect(response.status == 200)
        #expect(response.text == #"{"ok":"/v1/search"}"#)

        let recorded = try #require(chain.api.requests.first)
        #expect(chain.api.requests.count == 1)
        #expect(recorded.uri == "/v1/search?q=x")
        #expect(recorded.body == Array(#"{"q":"x"}"#.utf8))
        // K2 only: neither the user's token nor the outer's key K1 reaches the API.
        #expect(recorded.values("Authorization") == ["Bearer " + Self.innerOwnerKey])
        #expect(!ChainRig.allHeaderText(recorded).contains(token))
        #expect(!ChainRig.allHeaderText(recorded).contains(Self.outerOwnerKey))
        // The inner drops the outer's X-Gatehouse-* like any client's and names its own
        // caller: the api key's identity. The end user's id does not cross the second hop.
        #expect(ChainRig.gatehouseHeaders(recorded) == [
            "X-Gatehouse-App: app_inner", "X-Gatehouse-Org: org_inner", "X-Gatehouse-User: service:outer-gatehouse",
        ])
        #expect(!ChainRig.allHeaderText(recorded).contains("user_chained"))
        #expect(!ChainRig.allHeaderText(recorded).contains("user_forged"))
        #expect(chain.outer.api.requests.isEmpty)

        await chain.stop()
        // Each Gatehouse bills the call to its own org: the outer to the end user, the
        // inner to the outer's key.
        let outerRecords = MeteringRig.records(chain.outerMeter)
        let innerRecords = MeteringRig.records(chain.innerMeter)
        try #require(outerRecords.count == 1 && innerRecords.count == 1, "outer \(outerRecords) inner \(innerRecords)")
        #expect(outerRecords[0].string("org") == "org_outer")
        #expect(outerRecords[0].string("user") == "user_chained")
        #expect(outerRecords[0].string("path") == "/_api/v1/search")
        #expect(outerRecords[0].int("status") == 200)
        #expect(innerRecords[0].string("org") == "org_inner")
        #expect(innerRecords[0].string("app") == "app_inner")
        #expect(innerRecords[0].string("user") == "service:outer-gatehouse")
        #expect(innerRecords[0].string("path") == "/v1/search")
        #expect(innerRecords[0].int("status") == 200)
        #expect(innerRecords[0].int("req_bytes") == 9)
        #expect(innerRecords[0].string("request_id") == recorded.values("X-Request-Id").first)
        #expect(!MeteringRig.allText(chain.innerMeter).contains(Self.outerOwnerKey))
    }

    @Test func theInnerGatehouseRejectsWhatTheOuterWouldNotSend() async throws {
        let chain = try await Self.startAPIChain()
        defer { chain.removeDirectories() }
        let token = chain.outer.token(sub: "user_direct_inner")
        // The user's own token straight to the inner: it trusts no issuer, only K1.
        let inner = chain.inner
        Gate.expectRejected(try await inner.request("GET", "/_api/v1/search", headers: Gate.bearer(token)), "unknown_kid")
        Gate.expectMissing(try await inner.request("GET", "/_api/v1/search"))
        // The outer refuses a bad token before the inner hears of it.
        Gate.expectRejected(try await chain.outer.gatehouse.request("GET", "/_api/v1/search", headers: Gate.bearer("nope")), "unknown_key")
        #expect(chain.api.requests.isEmpty)
        // K1 works at the inner by itself: it is a server-to-server key.
        #expect(try await inner.request("GET", "/_api/v1/search", headers: Gate.bearer(Self.outerOwnerKey)).status == 200)
        #expect(chain.api.requests.count == 1)
        await chain.stop()
    }
}
