import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// `GET /_auth/me` end to end (SPEC "Auth endpoints and the SDK").
@Suite struct MeLiveTests {
    @Test func profileFromBearerHeader() async throws {
        let rig = try await GateRig.start()
        let token = rig.token(sub: "user_ada", extra: [
            "email": "ada@example.test", "name": "Ada Lovelace", "picture": "https://img.test/ada.png",
        ])
        let response = try await rig.gatehouse.request("GET", "/_auth/me", headers: UsersFixture.bearer(token))
        #expect(response.status == 200)
        #expect(response.text == #"{"id":"user_ada","email":"ada@example.test","name":"Ada Lovelace","avatar_url":"https://img.test/ada.png"}"#)
        #expect(response.header("content-type") == "application/json")
        #expect(response.header("cache-control") == "no-store")
        await rig.stop()
    }

    @Test func profileFromSessionCookieWithFallbackClaims() async throws {
        let rig = try await GateRig.start()
        let token = rig.token(sub: "user_grace", extra: [
            "given_name": "Grace", "family_name": "Hopper", "image_url": "https://img.test/grace.png",
        ])
        let response = try await rig.gatehouse.request("GET", "/_auth/me", headers: [("Cookie", "theme=dark; __session=" + token)])
        #expect(response.status == 200)
        let body = try #require(UsersFixture.object(response))
        #expect(body["id"] as? String == "user_grace")
        #expect(body["name"] as? String == "Grace Hopper")
        #expect(body["avatar_url"] as? String == "https://img.test/grace.png")
        // Unknown fields are present and null.
        #expect(body.keys.contains("email"))
        #expect(body["email"] is NSNull)
        await rig.stop()
    }

    @Test func unauthenticatedAnswersAre401WithChallenge() async throws {
        let rig = try await GateRig.start(auth: UsersFixture.withKeys)
        let expired = rig.token(sub: "user_old", ttl: -3600)
        let cases: [[(String, String)]] = [
            [],
            UsersFixture.bearer(expired),
            UsersFixture.bearer("not-a-known-key"),
            [("Authorization", "Basic dXNlcjpwdw==")],
            // Api keys are services, not users.
            UsersFixture.bearer(UsersFixture.adminKey),
            UsersFixture.bearer(UsersFixture.serviceKey),
        ]
        for headers in cases {
            let response = try await rig.gatehouse.request("GET", "/_auth/me", headers: headers)
            #expect(response.status == 401, "\(headers.map(\.0))")
            #expect(response.text == #"{"error":"unauthenticated"}"#)
            #expect(response.header("www-authenticate") == #"Bearer realm="gatehouse""#)
        }
        // …and never recorded as users.
        let listed = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(listed.status == 200)
        #expect(listed.text == "[]")
        await rig.stop()
    }

    @Test func devModeTokenNamesItsUser() async throws {
        var auth = AuthConfiguration()
        auth.mode = .dev
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: "http://127.0.0.1:1", apiUpstream: "http://127.0.0.1:1", auth: auth))
        let minted = try await gatehouse.request("POST", "/_auth/dev/token", headers: [("Content-Type", "application/json")],
                                                 body: Array(#"{"email":"ada@example.com","name":"Ada"}"#.utf8))
        let token = try #require(UsersFixture.object(minted)?["token"] as? String)
        let me = try await gatehouse.request("GET", "/_auth/me", headers: UsersFixture.bearer(token))
        #expect(me.status == 200)
        let body = try #require(UsersFixture.object(me))
        #expect(body["email"] as? String == "ada@example.com")
        #expect(body["name"] as? String == "Ada")
        #expect((body["id"] as? String)?.hasPrefix("dev_") == true)
        await gatehouse.stop()
    }

    @Test func onlyGetIsAllowed() async throws {
        let rig = try await GateRig.start()
        let response = try await rig.gatehouse.request("POST", "/_auth/me", headers: UsersFixture.bearer(rig.token()), body: [])
        #expect(response.status == 405)
        #expect(response.header("allow") == "GET")
        await rig.stop()
    }

    @Test func keepAliveConnectionServesTheNextRequestAfterAnAsyncAnswer() async throws {
        let rig = try await GateRig.start()
        let token = rig.token(sub: "user_pipe", extra: ["email": "p@example.test"])
        let connection = try await RawConnection.connect(port: rig.gatehouse.port)
        let request = "GET /_auth/me HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer \(token)\r\n\r\n"
        // Two pipelined requests: the second must wait for the first's async answer.
        try await connection.send(request + request)
        let first = try await connection.readResponse()
        let second = try await connection.readResponse()
        await connection.close()
        #expect(first.status == 200)
        #expect(second.status == 200)
        #expect(second.text.contains(#""id":"user_pipe""#))
        await rig.stop()
    }
}
