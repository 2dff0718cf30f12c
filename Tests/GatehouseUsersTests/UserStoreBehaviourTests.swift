import Foundation
import GatehouseUsers
import NIOCore
import Testing

/// What every ``UserStore`` does alike (SPEC "Auth endpoints": user storage), run against
/// SQLite and PostgreSQL.
@Suite struct UserStoreBehaviourTests {
    private let loop = StoreFixture.loop

    @Test(arguments: StoreKind.available)
    func pagesAreExactAndOrderedByID(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            // Inserted out of order; ids compare bytewise.
            let ids = (0..<7).map { "user_\($0)" }.shuffled()
            try await store.record(ids.map { StoreFixture.sighting("app_a", $0) }, on: loop).get()
            let pages = try await StoreFixture.pages(store, app: "app_a", limit: 3)
            #expect(pages.map(\.count) == [3, 3, 1])
            #expect(pages.flatMap { $0 } == (0..<7).map { "user_\($0)" })
            #expect(try await store.list(app: "app_a", after: nil, limit: 0, on: loop).get().isEmpty)
            #expect(try await store.list(app: "app_a", after: "user_6", limit: 5, on: loop).get().isEmpty)
            #expect(try await store.list(app: "nobody", after: nil, limit: 5, on: loop).get().isEmpty)
        }
    }

    @Test(arguments: StoreKind.available)
    func appsAreSeparate(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            try await store.record([
                StoreFixture.sighting("app_a", "user_1", email: "a@x.test"),
                StoreFixture.sighting("app_b", "user_1", email: "b@x.test"),
                StoreFixture.sighting("app_b", "user_2"),
            ], on: loop).get()
            let a = try await store.list(app: "app_a", after: nil, limit: 50, on: loop).get()
            let b = try await store.list(app: "app_b", after: nil, limit: 50, on: loop).get()
            #expect(a.map(\.id) == ["user_1"])
            #expect(a.first?.profile.email == "a@x.test")
            #expect(b.map(\.id) == ["user_1", "user_2"])
            #expect(b.first?.profile.email == "b@x.test")
            #expect(try await store.listAll(app: "app_b", on: loop).get().map(\.id) == ["user_1", "user_2"])
        }
    }

    @Test(arguments: StoreKind.available)
    func upsertKeepsFirstSeenAndKnownFields(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            try await store.record([StoreFixture.sighting("app", "u", email: "u@x.test", name: "U", at: 100)], on: loop).get()
            try await store.record([StoreFixture.sighting("app", "u", name: "New Name", at: 500)], on: loop).get()
            // A late write of an older sighting moves neither time back.
            try await store.record([StoreFixture.sighting("app", "u", at: 300)], on: loop).get()
            let user = try #require(try await store.list(app: "app", after: nil, limit: 1, on: loop).get().first)
            #expect(user.firstSeen == 100)
            #expect(user.lastSeen == 500)
            #expect(user.profile.email == "u@x.test")
            #expect(user.profile.name == "New Name")
            #expect(user.profile.avatarURL == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func oneBatchNamingAUserTwiceMergesInOrder(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            var avatar = StoreFixture.sighting("app", "u", at: 250)
            avatar.profile.avatarURL = "https://img.test/u.png"
            try await store.record([
                StoreFixture.sighting("app", "u", email: "first@x.test", at: 300),
                StoreFixture.sighting("app", "u", name: "N", at: 100),
                avatar,
                StoreFixture.sighting("app", "u", email: "second@x.test", at: 200),
            ], on: loop).get()
            let users = try await store.listAll(app: nil, on: loop).get()
            #expect(users == [UserRecord(
                appID: "app", id: "u",
                profile: UserProfile(email: "second@x.test", name: "N", avatarURL: "https://img.test/u.png"),
                firstSeen: 100, lastSeen: 300)])
        }
    }

    @Test(arguments: StoreKind.available)
    func nonASCIIIDsSortByTheirUTF8Bytes(_ kind: StoreKind) async throws {
        let ids = ["user_b", "User_a", "é", "e\u{301}", "z", "ä", "日本", "😀", "ａ", "~", "user_a", "ß", "a b", "a-b", "A"]
        let expected = StoreFixture.byteOrder(ids)
        // Not the order a locale-aware collation (or Swift's String <) would give.
        #expect(expected != ids.sorted())
        try await StoreFixture.withStore(kind) { store in
            try await store.record(ids.map { StoreFixture.sighting("app", $0) }, on: loop).get()
            #expect(try await store.listAll(app: "app", on: loop).get().map(\.id) == expected)
            let pages = try await StoreFixture.pages(store, app: "app", limit: 4)
            #expect(pages.map(\.count) == [4, 4, 4, 3])
            #expect(pages.flatMap { $0 } == expected)
        }
    }

    @Test(arguments: StoreKind.available)
    func listAllOrdersByAppThenID(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            try await store.record([
                StoreFixture.sighting("app_é", "b"), StoreFixture.sighting("app_b", "z"), StoreFixture.sighting("App", "y"),
                StoreFixture.sighting("app_b", "a"), StoreFixture.sighting("app_é", "a"),
            ], on: loop).get()
            let all = try await store.listAll(app: nil, on: loop).get()
            #expect(all.map { "\($0.appID)/\($0.id)" } == ["App/y", "app_b/a", "app_b/z", "app_é/a", "app_é/b"])
        }
    }

    @Test(arguments: StoreKind.available)
    func aLargeBatchIsStoredWhole(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            let ids = (0..<2_500).map { String(format: "user_%05d", $0) }
            try await store.record(ids.reversed().map { StoreFixture.sighting("app", $0, email: $0 + "@x.test") }, on: loop).get()
            let pages = try await StoreFixture.pages(store, app: "app", limit: 1_000)
            #expect(pages.map(\.count) == [1_000, 1_000, 500])
            #expect(pages.flatMap { $0 } == ids)
        }
    }

    @Test(arguments: StoreKind.available)
    func reopenedStoreKeepsItsUsers(_ kind: StoreKind) async throws {
        try await StoreFixture.withLocation(kind) { location in
            let first = try await UserStores.open(location, eventLoop: loop)
            try await first.record([StoreFixture.sighting("app", "kept", email: "k@x.test")], on: loop).get()
            await first.close()
            let second = try await UserStores.open(location, eventLoop: loop)
            let users = try await second.listAll(app: nil, on: loop).get()
            #expect(users.map(\.id) == ["kept"])
            #expect(users.first?.profile.email == "k@x.test")
            await second.close()
        }
    }

    @Test(arguments: StoreKind.available)
    func aClosedStoreRefusesCalls(_ kind: StoreKind) async throws {
        try await StoreFixture.withLocation(kind) { location in
            let store = try await UserStores.open(location, eventLoop: loop)
            #expect(store.isOpen)
            await store.close()
            #expect(!store.isOpen)
            await store.close()
            await #expect(throws: UserStoreError.self) {
                try await store.record([StoreFixture.sighting("app", "u")], on: loop).get()
            }
            await #expect(throws: UserStoreError.self) {
                _ = try await store.list(app: "app", after: nil, limit: 1, on: loop).get()
            }
            await #expect(throws: UserStoreError.self) { _ = try await store.listAll(app: nil, on: loop).get() }
        }
    }

    @Test(arguments: StoreKind.available)
    func futuresCompleteOnTheCallersLoop(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            let loop = self.loop
            let recordedOnLoop = try await store.record([StoreFixture.sighting("app", "u")], on: loop).map { loop.inEventLoop }.get()
            #expect(recordedOnLoop)
            let listedOnLoop = try await store.list(app: "app", after: nil, limit: 5, on: loop).map { _ in loop.inEventLoop }.get()
            #expect(listedOnLoop)
        }
    }
}
