import Foundation
import GatehouseCore
import GatehouseTesting
import Testing

/// Two Gatehouse replicas on one PostgreSQL `users.store`, end to end: a user one
/// replica saw is listed by the other. Needs `GATEHOUSE_TEST_POSTGRES_URL`
/// (`scripts/postgres-test-server.sh`); in CI its absence fails instead of skipping.
@Suite(
    .enabled(if: TestPostgres.shouldRun, "GATEHOUSE_TEST_POSTGRES_URL is not set: run scripts/postgres-test-server.sh"),
    // A lock wait on the shared server (seen once, with two suites run against it at the
    // same time) fails with the test's name instead of hanging the run.
    .timeLimit(.minutes(3))
)
struct PostgresUsersLiveTests {
    @Test func replicasShareTheirUsers() async throws {
        let database = try await TestPostgres.create()
        let one = try await GateRig.start { $0.users.store = database.url }
        let two = try await GateRig.start { $0.users.store = database.url }
        #expect(try await one.admin("/readyz").status == 200)
        #expect(try await two.admin("/readyz").status == 200)

        let me = try await one.gatehouse.request(
            "GET", "/_auth/me",
            headers: UsersFixture.bearer(one.token(sub: "user_pg", extra: ["email": "pg@example.test", "name": "Post Gres"])))
        #expect(me.status == 200)
        // Replica one writes its batch within a flush interval; replica two reads the table.
        let listed = try await GateRig.poll(timeout: .seconds(10)) {
            let response = try? await two.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
            return response.map(UsersFixture.ids) == ["user_pg"]
        }
        #expect(listed)
        let users = try await two.gatehouse.request("GET", "/_auth/users", headers: UsersFixture.owner)
        #expect(users.text == #"[{"id":"user_pg","email":"pg@example.test","name":"Post Gres","avatar_url":null}]"#)
        await one.stop()
        await two.stop()
        await database.drop()
    }
}
