import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// `GET /_auth/users` end to end: who may call it, paging, per-app lists, and users the
/// gate let through (SPEC "Auth endpoints and the SDK").
@Suite struct UsersListLiveTests {
    /// Makes `ids` known to the rig's app through `/_auth/me`.
    private func see(_ ids: [String], rig: GateRig, host: String = "gatehouse.test") async throws {
        for id in ids {
            let response = try await rig.gatehouse.request(
                "GET", "/_auth/me", headers: UsersFixture.bearer(rig.token(sub: id, extra: ["email": .string(id + "@example.test")])), host: host)
            #expect(response.status == 200)
        }
    }

    @Test func whoMayList() async throws {
        let rig = try await GateRig.start(auth: UsersFixture.withKeys)
        try await see(["user_1"], rig: rig)
        let owner = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(owner.status == 200)
        #expect(owner.text == #"[{"id":"user_1","email":"user_1@example.test","name":null,"avatar_url":null}]"#)
        let admin = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.bearer(UsersFixture.adminKey))
        #expect(admin.status == 200)
        #expect(UsersFixture.ids(admin) == ["user_1"])

        for headers in [UsersFixture.bearer(rig.token(sub: "user_1")), UsersFixture.bearer(UsersFixture.serviceKey),
                        [("Cookie", "__session=" + rig.token(sub: "user_1"))]] {
            let response = try await rig.gatehouse.request("GET", "/_auth/users", headers: headers)
            #expect(response.status == 403)
            #expect(response.text == #"{"error":"forbidden"}"#)
        }
        for headers in [[], UsersFixture.bearer("sk_owner_wrong"), UsersFixture.bearer(TestGatehouse.ownerKey + "x"),
                        UsersFixture.bearer(rig.token(sub: "user_1", ttl: -3600))] {
            let response = try await rig.gatehouse.request("GET", "/_auth/users", headers: headers)
            #expect(response.status == 401)
            #expect(response.text == #"{"error":"unauthenticated"}"#)
            #expect(response.header("www-authenticate") == #"Bearer realm="gatehouse""#)
        }
        // The owner key in a cookie is not the owner calling.
        let cookie = try await rig.gatehouse.request("GET", "/_auth/users", headers: [("Cookie", "__session=" + TestGatehouse.ownerKey)])
        #expect(cookie.status == 401)
        await rig.stop()
    }

    @Test func pagesFollowLinkHeadersInIDOrder() async throws {
        let rig = try await GateRig.start()
        let ids = (1...7).map { "user_\($0)" }
        try await see(ids.reversed(), rig: rig)

        var target: String? = "/_auth/users?limit=3"
        var pages: [[String]] = []
        while let next = target {
            let response = try await rig.gatehouse.request("GET", next, headers: UsersFixture.owner)
            #expect(response.status == 200)
            pages.append(UsersFixture.ids(response))
            target = UsersFixture.nextLink(response)
            if let target { #expect(target.hasPrefix("/_auth/users?limit=3&cursor=")) }
            guard pages.count < 5 else { break }
        }
        #expect(pages == [["user_1", "user_2", "user_3"], ["user_4", "user_5", "user_6"], ["user_7"]])

        // Exactly `limit` users left: the last full page names no next page.
        let all = try await rig.gatehouse.request("GET", "/_auth/users?limit=7", headers: UsersFixture.owner)
        #expect(UsersFixture.ids(all) == ids)
        #expect(all.header("link") == nil)
        let byDefault = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(UsersFixture.ids(byDefault) == ids)
        #expect(byDefault.header("link") == nil)
        await rig.stop()
    }

    @Test func badPagingIs400() async throws {
        let rig = try await GateRig.start()
        for query in ["cursor=!!!", "cursor=", "cursor=%2F", "limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=", "limit=2&limit=3"] {
            let response = try await rig.gatehouse.request("GET", "/_auth/users?" + query, headers: UsersFixture.owner)
            #expect(response.status == 400, "\(query)")
            #expect(UsersFixture.object(response)?["error"] as? String == "bad_request")
        }
        let max = try await rig.gatehouse.request("GET", "/_auth/users?limit=1000", headers: UsersFixture.owner)
        #expect(max.status == 200)
        // A 400 here does not close the connection's reuse for no reason: still JSON.
        await rig.stop()
    }

    @Test func eachAppSeesOnlyItsOwnUsers() async throws {
        let otherOwner = "sk_owner_other_91ab"
        let rig = try await GateRig.start { config in
            var other = config.apps[0]
            other.id = "app_other"
            other.hosts = ["other.test"]
            other.api.ownerKey = Secret(otherOwner)
            config.apps.append(other)
        }
        try await see(["user_main"], rig: rig)
        try await see(["user_other"], rig: rig, host: "other.test")
        let main = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(UsersFixture.ids(main) == ["user_main"])
        let other = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.bearer(otherOwner), host: "other.test")
        #expect(UsersFixture.ids(other) == ["user_other"])
        // One app's owner key is nobody on the other app.
        let crossed = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner, host: "other.test")
        #expect(crossed.status == 401)
        await rig.stop()
    }

    @Test func userWhoPassedTheGateIsListed() async throws {
        let rig = try await GateRig.start()
        let token = rig.token(sub: "user_api", extra: ["email": "api@example.test", "name": "Api Caller"])
        for _ in 0..<3 {
            let response = try await rig.gatehouse.request("GET", "/_api/v1/ping", headers: UsersFixture.bearer(token))
            #expect(response.status == 200)
        }
        let listed = try await rig.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(listed.text == #"[{"id":"user_api","email":"api@example.test","name":"Api Caller","avatar_url":null}]"#)
        await rig.stop()
    }

    @Test func usersSurviveARestartOnTheSameFile() async throws {
        let database = UsersFixture.temporaryDatabase()
        defer { UsersFixture.removeDatabase(database) }
        let first = try await GateRig.start { $0.users.store = "sqlite:" + database }
        try await see(["user_kept"], rig: first)
        #expect(try await first.admin("/readyz").status == 200)
        await first.stop()
        let second = try await GateRig.start { $0.users.store = "sqlite:" + database }
        let listed = try await second.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(UsersFixture.ids(listed) == ["user_kept"])
        await second.stop()
    }

    @Test func unreachablePostgresStoreFailsToStartWithOneClearLine() async throws {
        var auth = AuthConfiguration()
        auth.mode = .none
        var config = TestGatehouse.configuration(appUpstream: "http://127.0.0.1:1", apiUpstream: "http://127.0.0.1:1", auth: auth)
        config.users.store = "postgres://gh:hunter2@127.0.0.1:1/gatehouse"
        do {
            let started = try await TestGatehouse.start(config)
            await started.stop()
            Issue.record("expected the start to fail")
        } catch {
            let text = "\(error)"
            #expect(text.contains("users.store: cannot connect to PostgreSQL at 127.0.0.1:1: "))
            #expect(!text.contains("hunter2"))
            #expect(!text.contains("\n"))
        }
    }
}
