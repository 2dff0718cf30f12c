import Foundation
import GatehouseUsers
import NIOCore
import Testing

@Suite struct SQLiteUserStoreTests {
    @Test func pagesAreExactAndOrderedByID() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try await SQLiteUserStore.open(path: dir.database, eventLoop: StoreFixture.loop)
        // Inserted out of order; ids compare bytewise.
        let ids = (0..<7).map { "user_\($0)" }.shuffled()
        try await store.record(ids.map { StoreFixture.sighting("app_a", $0) }, on: StoreFixture.loop).get()
        var seen: [String] = []
        var after: String?
        var pages: [Int] = []
        repeat {
            let page = try await store.list(app: "app_a", after: after, limit: 3, on: StoreFixture.loop).get()
            pages.append(page.count)
            seen += page.map(\.id)
            after = page.count == 3 ? page.last?.id : nil
        } while after != nil
        #expect(pages == [3, 3, 1])
        #expect(seen == (0..<7).map { "user_\($0)" })
        await store.close()
    }

    @Test func appsAreSeparate() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try await SQLiteUserStore.open(path: dir.database, eventLoop: StoreFixture.loop)
        try await store.record([
            StoreFixture.sighting("app_a", "user_1", email: "a@x.test"),
            StoreFixture.sighting("app_b", "user_1", email: "b@x.test"),
            StoreFixture.sighting("app_b", "user_2"),
        ], on: StoreFixture.loop).get()
        let a = try await store.list(app: "app_a", after: nil, limit: 50, on: StoreFixture.loop).get()
        let b = try await store.list(app: "app_b", after: nil, limit: 50, on: StoreFixture.loop).get()
        #expect(a.map(\.id) == ["user_1"])
        #expect(a.first?.profile.email == "a@x.test")
        #expect(b.map(\.id) == ["user_1", "user_2"])
        #expect(b.first?.profile.email == "b@x.test")
        await store.close()
    }

    @Test func upsertKeepsFirstSeenAndKnownFields() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let store = try await SQLiteUserStore.open(path: dir.database, eventLoop: StoreFixture.loop)
        try await store.record([StoreFixture.sighting("app", "u", email: "u@x.test", name: "U", at: 100)], on: StoreFixture.loop).get()
        try await store.record([StoreFixture.sighting("app", "u", name: "New Name", at: 500)], on: StoreFixture.loop).get()
        let user = try #require(try await store.list(app: "app", after: nil, limit: 1, on: StoreFixture.loop).get().first)
        #expect(user.firstSeen == 100)
        #expect(user.lastSeen == 500)
        #expect(user.profile.email == "u@x.test")
        #expect(user.profile.name == "New Name")
        await store.close()
    }

    @Test func reopenPersistsInWALMode() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let first = try await SQLiteUserStore.open(path: dir.database, eventLoop: StoreFixture.loop)
        try await first.record([StoreFixture.sighting("app", "kept", email: "k@x.test")], on: StoreFixture.loop).get()
        #expect(try await first.journalMode(on: StoreFixture.loop).get() == "wal")
        await first.close()
        #expect(!first.isOpen)
        let second = try await SQLiteUserStore.open(path: dir.database, eventLoop: StoreFixture.loop)
        let users = try await second.listAll(app: nil, on: StoreFixture.loop).get()
        #expect(users.map(\.id) == ["kept"])
        #expect(users.first?.profile.email == "k@x.test")
        await second.close()
    }

    @Test func postgresIsRefusedWithAClearError() async throws {
        do {
            _ = try await UserStores.open("postgres://u:secretpw@db.test/gh", eventLoop: StoreFixture.loop)
            Issue.record("expected an error")
        } catch let error as UserStoreError {
            #expect(error.isUnsupported)
            #expect(error.description.contains("PostgreSQL is not supported yet"))
            #expect(!error.description.contains("secretpw"))
        }
    }

    @Test func unopenableDirectoryFails() async throws {
        await #expect(throws: UserStoreError.self) {
            _ = try await SQLiteUserStore.open(path: "/nonexistent-gatehouse-dir/x/users.db", eventLoop: StoreFixture.loop)
        }
    }
}
