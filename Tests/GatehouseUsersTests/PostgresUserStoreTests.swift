import Foundation
import GatehouseTesting
import GatehouseUsers
import NIOCore
import NIOPosix
import Testing

/// What only the PostgreSQL store does: replicas sharing one database, opening together,
/// and failing to connect quickly and clearly. Needs `GATEHOUSE_TEST_POSTGRES_URL`
/// (`scripts/postgres-test-server.sh`); in CI its absence fails instead of skipping.
@Suite(
    .enabled(if: TestPostgres.shouldRun, "GATEHOUSE_TEST_POSTGRES_URL is not set: run scripts/postgres-test-server.sh"),
    // A lock wait on the shared server (seen once, with two suites run against it at the
    // same time) fails with the test's name instead of hanging the run.
    .timeLimit(.minutes(3))
)
struct PostgresUserStoreTests {
    private let loop = StoreFixture.loop

    @Test func twoReplicasSeeEachOthersUsers() async throws {
        try await StoreFixture.withLocation(.postgres) { location in
            let one = try await UserStores.open(location, eventLoop: loop)
            let two = try await UserStores.open(location, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
            try await one.record([StoreFixture.sighting("app", "from_one", email: "one@x.test", at: 100)], on: loop).get()
            try await two.record([StoreFixture.sighting("app", "from_two", at: 200)], on: loop).get()
            // The same user from both: merged, whichever wrote last.
            try await two.record([StoreFixture.sighting("app", "from_one", name: "Named On Two", at: 300)], on: loop).get()
            for store in [one, two] {
                let users = try await store.listAll(app: "app", on: loop).get()
                #expect(users.map(\.id) == ["from_one", "from_two"])
                #expect(users.first?.profile == UserProfile(email: "one@x.test", name: "Named On Two"))
                #expect(users.first?.firstSeen == 100)
                #expect(users.first?.lastSeen == 300)
            }
            await one.close()
            // One replica going away leaves the other working.
            #expect(try await two.list(app: "app", after: "from_one", limit: 10, on: loop).get().map(\.id) == ["from_two"])
            await two.close()
        }
    }

    @Test func replicasOpeningTogetherOnAFreshDatabaseAllStart() async throws {
        try await StoreFixture.withLocation(.postgres) { location in
            let stores = try await withThrowingTaskGroup(of: (any UserStore).self) { group in
                for _ in 0..<8 {
                    // The fixture's URL allows a generous connect timeout: eight opens at once.
                    group.addTask {
                        try await UserStores.open(location, eventLoop: MultiThreadedEventLoopGroup.singleton.next())
                    }
                }
                var stores: [any UserStore] = []
                for try await store in group { stores.append(store) }
                return stores
            }
            #expect(stores.count == 8)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, store) in stores.enumerated() {
                    group.addTask {
                        try await store.record(
                            [StoreFixture.sighting("app", "replica_\(index)"), StoreFixture.sighting("app", "shared", at: Double(index))],
                            on: MultiThreadedEventLoopGroup.singleton.next()
                        ).get()
                    }
                }
                try await group.waitForAll()
            }
            let users = try await stores[0].listAll(app: "app", on: loop).get()
            #expect(users.map(\.id) == (0..<8).map { "replica_\($0)" } + ["shared"])
            #expect(users.last?.firstSeen == 0)
            #expect(users.last?.lastSeen == 7)
            for store in stores { await store.close() }
        }
    }

    @Test func wrongPasswordFailsQuicklyWithOneClearLine() async throws {
        let database = try await TestPostgres.create()
        let server = try PostgresStoreURL(database.url)
        var bad = URLComponents(string: database.url)
        bad?.password = "not-the-pw-7731"
        let url = try #require(bad?.string)
        let started = ContinuousClock.now
        do {
            let store = try await UserStores.open(url, eventLoop: loop)
            await store.close()
            Issue.record("expected the open to fail")
        } catch let error as UserStoreError {
            let text = error.description
            #expect(error.isConnectFailure)
            #expect(text.hasPrefix("users.store: cannot connect to PostgreSQL at \(server.endpoint): "))
            #expect(text.contains("password authentication failed"))
            #expect(!text.contains("not-the-pw-7731"))
            #expect(!text.contains("\n"))
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        await database.drop()
    }

    @Test func missingDatabaseIsNamedInTheError() async throws {
        let database = try await TestPostgres.create()
        await database.drop()
        let text = await StoreFixture.openFailure(database.url) ?? ""
        #expect(text.contains("does not exist"))
        #expect(text.contains(database.name))
    }

    @Test func sslmodeRequireAgainstAServerWithoutTLSFails() async throws {
        // The test server has no TLS: `require` must not fall back to plain TCP.
        try await StoreFixture.withLocation(.postgres) { location in
            let database = try PostgresStoreURL(location)
            guard database.tls == .disable else { return }
            let url = location + (location.contains("?") ? "&" : "?") + "sslmode=require"
            let text = await StoreFixture.openFailure(url)
            #expect(text == "users.store: cannot connect to PostgreSQL at \(database.endpoint): the server does not offer TLS (sslmode requires it)")
        }
    }

    @Test func someoneElsesTableOfTheSameNameIsRefused() async throws {
        let database = try await TestPostgres.create()
        try await database.execute("CREATE TABLE gatehouse_users (id INTEGER PRIMARY KEY, login TEXT)")
        let text = await StoreFixture.openFailure(database.url) ?? ""
        #expect(text.contains("cannot use the users table"))
        #expect(text.contains("does not exist"))
        await database.drop()
    }

    @Test func theTableKeepsIDsInByteOrder() async throws {
        // Existing rows written through the table, not the store, still list in byte order.
        let database = try await TestPostgres.create()
        let store = try await UserStores.open(database.url, eventLoop: loop)
        try await database.execute(
            "INSERT INTO gatehouse_users VALUES ('app', 'b', NULL, NULL, NULL, 1, 1), ('app', 'B', NULL, NULL, NULL, 1, 1), ('app', 'á', NULL, NULL, NULL, 1, 1)")
        #expect(try await store.listAll(app: "app", on: loop).get().map(\.id) == ["B", "b", "á"])
        await store.close()
        await database.drop()
    }
}

/// Opening fails fast and clearly with no server to talk to (needs no PostgreSQL).
@Suite struct PostgresUnreachableTests {
    private let loop = StoreFixture.loop

    @Test func refusedPortFailsAtOnceNamingTheHost() async throws {
        let refusing = try RefusingPort()
        let port = refusing.port
        let started = ContinuousClock.now
        // A long connect timeout, so a retry loop until it (rather than failing on the
        // refusal) would show far beyond the bound below.
        let text = await StoreFixture.openFailure("postgres://gh:hunter2@127.0.0.1:\(port)/gatehouse?connect_timeout=60")
        withExtendedLifetime(refusing) {}
        #expect(text == "users.store: cannot connect to PostgreSQL at 127.0.0.1:\(port): Connection refused")
        // Well below the 60 s: no retry loop before failing. Not tighter: under the full
        // suite's parallel load a refused connect took 4 s, with two busy loops beside 6 s.
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func aServerThatNeverAnswersTimesOut() async throws {
        // Accepts the TCP connection, then says nothing.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { _ in MultiThreadedEventLoopGroup.singleton.next().makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(silent.localAddress?.port)
        let started = ContinuousClock.now
        let text = await StoreFixture.openFailure("postgres://gh:hunter2@127.0.0.1:\(port)/gatehouse?connect_timeout=1")
        // Either the TCP connect or the start-up exchange ran out of time, depending on load;
        // the message names the deadline that fired: `connect_timeout=1`, not the 5 s default.
        #expect(text?.hasPrefix("users.store: cannot connect to PostgreSQL at 127.0.0.1:\(port): timed out after 1 s") == true)
        // Not a timing check (under the full suite's load it took 5.2 s): only a bound that
        // a wait with no deadline at all would cross.
        #expect(ContinuousClock.now - started < .seconds(30))
        try await silent.close()
    }

    @Test func unknownHostFailsNamingTheHost() async throws {
        let text = await StoreFixture.openFailure("postgres://gh:hunter2@no-such-host.invalid:5432/gatehouse?connect_timeout=3") ?? ""
        #expect(text.hasPrefix("users.store: cannot connect to PostgreSQL at no-such-host.invalid:5432: "))
        #expect(!text.contains("hunter2"))
    }
}
