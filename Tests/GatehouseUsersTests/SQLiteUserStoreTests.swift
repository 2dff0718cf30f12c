import Foundation
import GatehouseUsers
import NIOCore
import Testing

/// What only the SQLite store does; the behaviour both stores share is in
/// ``UserStoreBehaviourTests``.
@Suite struct SQLiteUserStoreTests {
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

    @Test func unopenableDirectoryFails() async throws {
        await #expect(throws: UserStoreError.self) {
            _ = try await SQLiteUserStore.open(path: "/nonexistent-gatehouse-dir/x/users.db", eventLoop: StoreFixture.loop)
        }
    }
}
