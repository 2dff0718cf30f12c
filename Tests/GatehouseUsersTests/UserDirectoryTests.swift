import Foundation
import GatehouseUsers
import NIOCore
import Testing

@Suite struct UserDirectoryTests {
    private func stored(_ store: any UserStore, _ id: String) async throws -> UserRecord? {
        try await store.listAll(app: "app", on: StoreFixture.loop).get().first { $0.id == id }
    }

    @Test(arguments: StoreKind.available)
    func lastSeenWritesAreCoalesced(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            let directory = UserDirectory(store: store, flushLoop: StoreFixture.loop, lastSeenResolution: 60)
            let users = AppUsers(appID: "app", directory: directory)
            let claims = UserProfile(email: "c@x.test")
            _ = try await users.resolvedProfile(id: "u", claims: claims, now: 1_000, on: StoreFixture.loop).get()
            try await directory.flush().get()
            #expect(try await stored(store, "u")?.lastSeen == 1_000)

            // 30 s later: nothing worth writing.
            _ = try await users.resolvedProfile(id: "u", claims: claims, now: 1_030, on: StoreFixture.loop).get()
            try await directory.flush().get()
            #expect(try await stored(store, "u")?.lastSeen == 1_000)

            // 61 s after the written value: written.
            _ = try await users.resolvedProfile(id: "u", claims: claims, now: 1_061, on: StoreFixture.loop).get()
            try await directory.flush().get()
            #expect(try await stored(store, "u")?.lastSeen == 1_061)
            #expect(try await stored(store, "u")?.firstSeen == 1_000)

            // A changed profile is written at once, whatever the time.
            _ = try await users.resolvedProfile(id: "u", claims: UserProfile(email: "new@x.test"), now: 1_062, on: StoreFixture.loop).get()
            try await directory.flush().get()
            #expect(try await stored(store, "u")?.profile.email == "new@x.test")
            await directory.shutdown()
        }
    }

    @Test(arguments: StoreKind.available)
    func shutdownWritesWhatIsPending(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            let directory = UserDirectory(store: store, flushLoop: StoreFixture.loop)
            directory.start(flushEvery: .seconds(3600))
            _ = try await AppUsers(appID: "app", directory: directory).resolvedProfile(id: "late", claims: UserProfile(), now: 5, on: StoreFixture.loop).get()
            #expect(try await stored(store, "late") == nil)
            await directory.shutdown()
            #expect(try await stored(store, "late") != nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func lookupFillsMissingFieldsOnceAndFailureIsNotFatal(_ kind: StoreKind) async throws {
        try await StoreFixture.withStore(kind) { store in
            let directory = UserDirectory(store: store, flushLoop: StoreFixture.loop)
            let calls = LookupCounter()
            let users = AppUsers(appID: "app", directory: directory) { id, loop in
                calls.increment()
                if id == "broken" { return loop.makeFailedFuture(LookupFailure()) }
                return loop.makeSucceededFuture(UserProfile(email: "looked@x.test", name: "Looked Up"))
            }
            let first = try await users.resolvedProfile(id: "u", claims: UserProfile(name: "From Claims"), now: 1, on: StoreFixture.loop).get()
            #expect(first.email == "looked@x.test")
            #expect(first.name == "From Claims")
            _ = try await users.resolvedProfile(id: "u", claims: UserProfile(name: "From Claims"), now: 2, on: StoreFixture.loop).get()
            #expect(calls.value == 1)
            let broken = try await users.resolvedProfile(id: "broken", claims: UserProfile(email: "b@x.test"), now: 3, on: StoreFixture.loop).get()
            #expect(broken.email == "b@x.test")
            #expect(broken.name == nil)
            try await directory.flush().get()
            #expect(try await stored(store, "u")?.profile.email == "looked@x.test")
            #expect(try await stored(store, "broken")?.profile.email == "b@x.test")
        }
    }
}

struct LookupFailure: Error {}

final class LookupCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
