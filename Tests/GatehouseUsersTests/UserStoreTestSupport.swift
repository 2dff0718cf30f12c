import Foundation
import GatehouseTesting
import GatehouseUsers
import NIOCore
import NIOPosix
import Testing

/// A fresh directory under the system temp dir, removed by ``remove()``.
struct TempDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "gatehouse-users-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    var database: String { path + "/users.db" }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The stores every behavioural test runs against. PostgreSQL is left out when no test
/// server is named (``TestPostgres/shouldRun``; never in CI, where its absence fails).
enum StoreKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static var available: [StoreKind] { TestPostgres.shouldRun ? [.sqlite, .postgres] : [.sqlite] }

    var testDescription: String { rawValue }
}

enum StoreFixture {
    static var loop: EventLoop { MultiThreadedEventLoopGroup.singleton.next() }

    static func sighting(_ app: String, _ id: String, email: String? = nil, name: String? = nil, at time: Double = 1_000)
        -> UserSighting
    {
        UserSighting(appID: app, id: id, profile: UserProfile(email: email, name: name), firstSeen: time, lastSeen: time)
    }

    /// Runs `body` with the `users.store` of a new empty store of `kind` (a file in a
    /// temporary directory, or a database of its own), removed afterwards.
    static func withLocation<T>(_ kind: StoreKind, _ body: (String) async throws -> T) async throws -> T {
        switch kind {
        case .sqlite:
            let dir = try TempDirectory()
            defer { dir.remove() }
            return try await body("sqlite:" + dir.database)
        case .postgres:
            let database = try await TestPostgres.create()
            do {
                let result = try await body(database.url)
                await database.drop()
                return result
            } catch {
                await database.drop()
                throw error
            }
        }
    }

    /// ``withLocation(_:_:)`` with the store opened (and closed after `body`).
    static func withStore<T>(_ kind: StoreKind, _ body: (any UserStore) async throws -> T) async throws -> T {
        try await withLocation(kind) { location in
            let store = try await UserStores.open(location, eventLoop: loop)
            do {
                let result = try await body(store)
                await store.close()
                return result
            } catch {
                await store.close()
                throw error
            }
        }
    }

    /// Every page of `app`'s users, `limit` at a time, following `after` as a client would.
    static func pages(_ store: any UserStore, app: String, limit: Int) async throws -> [[String]] {
        var pages: [[String]] = []
        var after: String?
        repeat {
            let page = try await store.list(app: app, after: after, limit: limit, on: loop).get()
            pages.append(page.map(\.id))
            after = page.count == limit ? page.last?.id : nil
        } while after != nil && pages.count < 10_000
        return pages
    }

    /// The one line opening `store` fails with; `nil` (and an issue) when it opens.
    static func openFailure(_ store: String) async -> String? {
        do {
            let opened = try await UserStores.open(store, eventLoop: loop)
            await opened.close()
            Issue.record("expected \(store) not to open")
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// `ids` in the order of their UTF-8 bytes (SQLite's BINARY collation, PostgreSQL's "C").
    static func byteOrder(_ ids: [String]) -> [String] {
        ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}

extension AppUsers {
    /// ``resolve(id:claims:now:on:)`` as a future either way, for tests that await it.
    func resolvedProfile(id: String, claims: UserProfile, now: Double, on eventLoop: EventLoop) -> EventLoopFuture<UserProfile> {
        switch resolve(id: id, claims: claims, now: now, on: eventLoop) {
        case .known(let profile): return eventLoop.makeSucceededFuture(profile)
        case .awaitingLookup(let future): return future
        }
    }
}
