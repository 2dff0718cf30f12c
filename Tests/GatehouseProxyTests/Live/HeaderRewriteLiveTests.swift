import Foundation
import GatehouseCore
import GatehouseProxy
import GatehouseTesting
import NIOHTTP1
import Testing

/// What each upstream receives (SPEC "The /_api gate", accepted requests): the owner key,
/// no credential cookies, only Gatehouse's `X-Gatehouse-*`, no hop-by-hop fields,
/// `X-Forwarded-*` by trust — and the app route's own credentials left alone.
@Suite struct HeaderRewriteLiveTests {
    static func reservedHeaders(_ request: RecordedRequest) -> [String] {
        request.headers.filter { HeaderHygiene.isGatehouseReserved($0.name) }.map { "\($0.name): \($0.value)" }.sorted()
    }

    static func allHeaderText(_ request: RecordedRequest) -> String {
        request.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    @Test func ownerKeyReplacesAuthorizationAndCredentialCookiesAreRemoved() async throws {
        let rig = try await GateRig.start()
        let token = rig.token(sub: "user_cookies")
        let response = try await rig.gatehouse.request("GET", "/_api/v1/x", headers: [
            ("Authorization", "Bearer " + token),
            ("Cookie", "theme=dark; __session=\(token); __session_ab12=zzz; lang=en"),
            ("Cookie", "__client_uat=1700000000; __client_uat_ab12=1700000001; other=1; __sessionx=keep"),
        ])
        #expect(response.status == 200)
        let recorded = try #require(rig.api.requests.first)
        #expect(recorded.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
        #expect(recorded.values("Cookie") == ["theme=dark; lang=en; other=1; __sessionx=keep"])
        #expect(!Self.allHeaderText(recorded).contains(token))
        #expect(recorded.values("Host") == ["127.0.0.1:\(rig.api.port)"])
        await rig.stop()
    }

    @Test func onlyCredentialCookiesLeaveNoCookieHeader() async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: [("Cookie", "__session=\(token); __client_uat=1")]).status == 200)
        let recorded = try #require(rig.api.requests.first)
        #expect(recorded.values("Cookie").isEmpty)
        #expect(recorded.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
        await rig.stop()
    }

    /// A token whose (signed) `sub` carries CR LF would split `X-Gatehouse-User` into a
    /// forged header upstream; it is refused before anything is forwarded.
    @Test func signedSubjectWithLineBreakNeverBecomesAHeader() async throws {
        let rig = try await GateRig.start()
        let token = rig.token(sub: "user_1\r\nX-Gatehouse-Org: org_evil")
        let response = try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(token))
        #expect(response.status == 401)
        #expect(response.text.contains("malformed"))
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }

    static let spoofed: [(String, String)] = [
        ("X-Gatehouse-User", "user_admin"), ("x_gatehouse_user", "user_admin"), ("X.Gatehouse.Org", "org_evil"),
        ("X-GATEHOUSE-APP", "app_evil"), ("x-gatehouse-user", "user_admin2"), ("X_Gatehouse.Extra", "1"),
    ]

    @Test func clientGatehouseHeadersAreDroppedInEverySpelling() async throws {
        let rig = try await GateRig.start()
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(sub: "user_real")) + Self.spoofed).status == 200)
        let api = try #require(rig.api.requests.first)
        #expect(Self.reservedHeaders(api) == ["X-Gatehouse-App: app_test", "X-Gatehouse-Org: org_test", "X-Gatehouse-User: user_real"])
        #expect(!Self.allHeaderText(api).contains("evil"))
        #expect(!Self.allHeaderText(api).contains("user_admin"))

        // The app route drops them too, and adds none of its own.
        #expect(try await rig.gatehouse.request("GET", "/page", headers: Self.spoofed).status == 200)
        let app = try #require(rig.app.requests.first)
        #expect(Self.reservedHeaders(app).isEmpty)
        await rig.stop()
    }

    static let hopByHop: [(String, String)] = [
        ("Connection", "keep-alive, X-Hop-Secret, x-other-hop"), ("X-Hop-Secret", "s3cr3t"), ("X-Other-Hop", "1"),
        ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Proxy-Authorization", "Basic cHJveHk6cGFzcw=="),
        ("Proxy-Connection", "keep-alive"), ("X-Kept", "yes"),
    ]

    @Test func hopByHopHeadersAreRemovedOnBothRoutes() async throws {
        let rig = try await GateRig.start()
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token()) + Self.hopByHop).status == 200)
        #expect(try await rig.gatehouse.request("GET", "/page", headers: Self.hopByHop).status == 200)
        let api = try #require(rig.api.requests.first)
        let app = try #require(rig.app.requests.first)
        for recorded in [api, app] {
            for name in ["X-Hop-Secret", "X-Other-Hop", "Keep-Alive", "TE", "Proxy-Authorization", "Proxy-Connection"] {
                #expect(recorded.values(name).isEmpty, "\(name) reached \(recorded.uri)")
            }
            #expect(!recorded.values("Connection").contains { $0.lowercased().contains("hop") })
            #expect(recorded.values("X-Kept") == ["yes"])
        }
        await rig.stop()
    }

    static let forwarded: [(String, String)] = [
        ("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "spoofed.test"),
        ("X-Request-Id", "client-chosen-id"),
    ]

    static func isHex32(_ s: String?) -> Bool {
        guard let s else { return false }
        return s.count == 32 && s.allSatisfy { $0.isHexDigit }
    }

    @Test func forwardedHeadersAreReplacedForAnUntrustedPeer() async throws {
        let rig = try await GateRig.start()
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token()) + Self.forwarded).status == 200)
        #expect(try await rig.gatehouse.request("GET", "/page", headers: Self.forwarded).status == 200)
        let api = try #require(rig.api.requests.first)
        let app = try #require(rig.app.requests.first)
        for recorded in [api, app] {
            #expect(recorded.values("X-Forwarded-For") == ["127.0.0.1"])
            #expect(recorded.values("X-Forwarded-Proto") == ["http"])
            #expect(recorded.values("X-Forwarded-Host") == ["gatehouse.test"])
            #expect(recorded.values("X-Request-Id").count == 1)
            #expect(Self.isHex32(recorded.values("X-Request-Id").first))
        }
        #expect(api.values("X-Request-Id") != app.values("X-Request-Id"))
        await rig.stop()
    }

    @Test func forwardedHeadersAreAppendedForATrustedPeer() async throws {
        let rig = try await GateRig.start { config in
            config.trustedProxies = [CIDRRange(parsing: "127.0.0.1/32")].compactMap { $0 }
        }
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token()) + Self.forwarded).status == 200)
        #expect(try await rig.gatehouse.request("GET", "/page", headers: [("X-Forwarded-For", "6.6.6.6, 10.0.0.1")]).status == 200)
        let api = try #require(rig.api.requests.first)
        #expect(api.values("X-Forwarded-For") == ["6.6.6.6, 127.0.0.1"])
        #expect(api.values("X-Forwarded-Proto") == ["https"])
        #expect(api.values("X-Forwarded-Host") == ["spoofed.test"])
        #expect(api.values("X-Request-Id") == ["client-chosen-id"])
        let app = try #require(rig.app.requests.first)
        #expect(app.values("X-Forwarded-For") == ["6.6.6.6, 10.0.0.1, 127.0.0.1"])
        #expect(app.values("X-Forwarded-Proto") == ["http"])
        #expect(app.values("X-Forwarded-Host") == ["gatehouse.test"])
        #expect(Self.isHex32(app.values("X-Request-Id").first))
        await rig.stop()
    }

    @Test func appRouteKeepsClientCredentialsAndNeverSeesTheOwnerKey() async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        let headers = [("Authorization", "Bearer " + token), ("Cookie", "__session=\(token); __client_uat=5; theme=dark")]
        #expect(try await rig.gatehouse.request("GET", "/dashboard?tab=1", headers: headers).status == 200)
        #expect(try await rig.gatehouse.request("POST", "/_apix/form", headers: headers, body: Array("a=1".utf8)).status == 200)
        #expect(try await rig.gatehouse.request("GET", "/", headers: [("Authorization", "Bearer " + TestGatehouse.ownerKey)]).status == 200)
        #expect(rig.app.requests.count == 3)
        for recorded in rig.app.requests.prefix(2) {
            #expect(recorded.values("Authorization") == ["Bearer " + token])
            #expect(recorded.values("Cookie") == ["__session=\(token); __client_uat=5; theme=dark"])
            #expect(!Self.allHeaderText(recorded).contains(TestGatehouse.ownerKey))
        }
        #expect(rig.app.requests.first?.uri == "/dashboard?tab=1")
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }

    @Test func ownerKeyNeverReachesAClientOrALog() async throws {
        let capture = LogCapture()
        // An API upstream that hangs up on every request: 502s on top of the gate's own
        // answers. (A live server, not a freed port another test could take.)
        let rig = try await GateRig.start(apiResponder: { _ in .close }, logger: capture.logger()) { config in
            config.apps[0].policy.requireClaims = ["role": "admin"]
        }
        let token = rig.token(extra: ["role": "admin"])
        var responses: [TestHTTPResponse] = []
        responses.append(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(token)))
        responses.append(try await rig.gatehouse.request("POST", "/_api/x", headers: Gate.bearer(token), body: Array("{}".utf8)))
        responses.append(try await rig.gatehouse.request("GET", "/_api/x"))
        responses.append(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer("nope")))
        responses.append(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token())))
        responses.append(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(TestGatehouse.ownerKey)))
        responses.append(try await rig.gatehouse.request("GET", "/_api/%2f"))
        // An issuer outage makes Gatehouse log (a warning per failed fetch).
        rig.jwks.setFailing(true)
        responses.append(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(key: rig.key.withKid("kid-new")))))
        #expect(responses.map(\.status) == [502, 502, 401, 401, 403, 401, 400, 503])
        #expect(responses[0].text == #"{"error":"bad_gateway"}"#)
        for response in responses {
            let everything = response.headers.map { "\($0.0): \($0.1)" }.joined(separator: "\n") + "\n" + response.text
            #expect(!everything.contains(TestGatehouse.ownerKey))
            #expect(!everything.contains("sk_owner"))
        }
        await rig.stop()
        #expect(capture.count > 0, "the failed JWKS fetch logs; the capture must see it")
        #expect(!capture.text.contains(TestGatehouse.ownerKey))
        #expect(!capture.text.contains(token))
    }
}
