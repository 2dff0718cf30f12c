import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import NIOHTTP1
import Testing

/// Clerk mode with a `secret_key`: fields the session token lacks come from Clerk's
/// Backend API (here a local stand-in), once, and its failure is not fatal.
@Suite struct ClerkProfileLiveTests {
    static let secret = "sk_test_backend_51c0"

    static let clerkUser = #"""
        {"id":"user_clerk","first_name":"Marie","last_name":"Curie","image_url":"https://img.clerk.test/mc.png",
         "primary_email_address_id":"idn_2","email_addresses":[
           {"id":"idn_1","email_address":"old@example.test"},{"id":"idn_2","email_address":"marie@example.test"}]}
        """#

    private static func rig(clerk: TestHTTPServer) async throws -> GateRig {
        try await GateRig.start(auth: { auth in
            auth.mode = .clerk
            auth.secretKey = Secret(secret)
            auth.clerkAPIURL = clerk.url
        })
    }

    @Test func backendAPIFillsMissingFieldsOnce() async throws {
        let clerk = try await TestHTTPServer.start { request in
            guard request.path == "/v1/users/user_clerk" else { return .fixed(status: .notFound, body: "{}") }
            return .fixed(headers: [("Content-Type", "application/json")], body: Self.clerkUser)
        }
        let rig = try await Self.rig(clerk: clerk)
        // The session token has a name but no email or picture.
        let token = rig.token(sub: "user_clerk", extra: ["name": "M. Curie"])
        let me = try await rig.gatehouse.request("GET", "/_auth/me", headers: UsersFixture.bearer(token))
        #expect(me.status == 200)
        #expect(me.text == #"{"id":"user_clerk","email":"marie@example.test","name":"M. Curie","avatar_url":"https://img.clerk.test/mc.png"}"#)
        let call = try #require(clerk.requests.first)
        #expect(call.values("Authorization") == ["Bearer " + Self.secret])
        #expect(call.method == .GET)

        // Seen again (gate and /me): no second look-up; the list has the fetched email.
        #expect(try await rig.gatehouse.request("GET", "/_api/v1/x", headers: UsersFixture.bearer(token)).status == 200)
        #expect(try await rig.gatehouse.request("GET", "/_auth/me", headers: UsersFixture.bearer(token)).status == 200)
        let listed = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(UsersFixture.array(listed)?.first?["email"] as? String == "marie@example.test")
        #expect(clerk.requests.count == 1)
        await rig.stop()
        await clerk.stop()
    }

    @Test func failingBackendAPIIsNotFatal() async throws {
        let clerk = try await TestHTTPServer.start { _ in .fixed(status: .internalServerError, body: #"{"errors":[]}"#) }
        let rig = try await Self.rig(clerk: clerk)
        let token = rig.token(sub: "user_unlucky", extra: ["email": "u@example.test"])
        let me = try await rig.gatehouse.request("GET", "/_auth/me", headers: UsersFixture.bearer(token))
        #expect(me.status == 200)
        #expect(me.text == #"{"id":"user_unlucky","email":"u@example.test","name":null,"avatar_url":null}"#)
        #expect(clerk.requests.count == 1)
        let listed = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(UsersFixture.ids(listed) == ["user_unlucky"])
        await rig.stop()
        await clerk.stop()
    }

    @Test func unreachableBackendAPIIsNotFatalOnTheGate() async throws {
        let clerk = try await TestHTTPServer.start { _ in .close }
        let rig = try await Self.rig(clerk: clerk)
        let token = rig.token(sub: "user_gate", extra: ["email": "g@example.test"])
        #expect(try await rig.gatehouse.request("GET", "/_api/v1/x", headers: UsersFixture.bearer(token)).status == 200)
        let listed = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(UsersFixture.array(listed)?.first?["email"] as? String == "g@example.test")
        await rig.stop()
        await clerk.stop()
    }
}
