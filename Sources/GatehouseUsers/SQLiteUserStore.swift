import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SQLiteNIO

/// The embedded user store: one SQLite file in WAL mode, `users` keyed by
/// `(app_id, id)`.
///
/// Every statement runs on the store's own `NIOThreadPool` (sqlite-nio's model), never on
/// an event loop; results hop to the loop the caller named. One connection serves reads
/// and writes (SQLite serialises them; writes are batched upstream of here, so there are
/// few). Upserts are one statement per batch, so a batch is atomic without a transaction
/// that another caller's statement could land inside.
public final class SQLiteUserStore: UserStore {
    private let connection: SQLiteConnection
    private let threadPool: NIOThreadPool
    private let open = NIOLockedValueBox(true)
    /// Rows per INSERT statement (7 bound values each).
    static let batchRows = 200

    private init(connection: SQLiteConnection, threadPool: NIOThreadPool) {
        self.connection = connection
        self.threadPool = threadPool
    }

    /// Opens (creating when missing) the database at `path`, or an in-memory one for
    /// `nil`, and applies the schema.
    public static func open(path: String?, eventLoop: EventLoop) async throws -> SQLiteUserStore {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let storage: SQLiteConnection.Storage = path.map { .file(path: $0) } ?? .memory
        let connection: SQLiteConnection
        do {
            if let path {
                let directory = (path as NSString).deletingLastPathComponent
                if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
                    throw UserStoreError.openFailed(path, "no such directory")
                }
            }
            connection = try await SQLiteConnection.open(storage: storage, threadPool: pool, on: eventLoop).get()
        } catch {
            try? await pool.shutdownGracefully()
            if let error = error as? UserStoreError { throw error }
            throw UserStoreError.openFailed(path ?? ":memory:", Self.reason(error))
        }
        let store = SQLiteUserStore(connection: connection, threadPool: pool)
        do {
            for statement in Self.schema {
                _ = try await connection.query(statement, []).get()
            }
        } catch {
            await store.close()
            throw UserStoreError.openFailed(path ?? ":memory:", Self.reason(error))
        }
        return store
    }

    static let schema = [
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA busy_timeout=5000",
        """
        CREATE TABLE IF NOT EXISTS users (
            app_id TEXT NOT NULL,
            id TEXT NOT NULL,
            email TEXT,
            name TEXT,
            avatar_url TEXT,
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL,
            PRIMARY KEY (app_id, id)
        ) WITHOUT ROWID
        """,
    ]

    public var isOpen: Bool { open.withLockedValue { $0 } }

    /// The journal mode SQLite reports (`wal` once opened on a file).
    public func journalMode(on eventLoop: EventLoop) -> EventLoopFuture<String?> {
        guard isOpen else { return eventLoop.makeFailedFuture(UserStoreError.closed) }
        return connection.query("PRAGMA journal_mode", []).map { $0.first?.columns.first?.data.string }.hop(to: eventLoop)
    }

    public func record(_ sightings: [UserSighting], on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        guard isOpen else { return eventLoop.makeFailedFuture(UserStoreError.closed) }
        guard !sightings.isEmpty else { return eventLoop.makeSucceededVoidFuture() }
        var futures: [EventLoopFuture<Void>] = []
        var start = 0
        while start < sightings.count {
            let chunk = sightings[start..<min(start + Self.batchRows, sightings.count)]
            start += Self.batchRows
            let values = Array(repeating: "(?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")
            var binds: [SQLiteData] = []
            binds.reserveCapacity(chunk.count * 7)
            for s in chunk {
                binds.append(.text(s.appID))
                binds.append(.text(s.id))
                binds.append(Self.data(s.profile.email))
                binds.append(Self.data(s.profile.name))
                binds.append(Self.data(s.profile.avatarURL))
                binds.append(.float(s.firstSeen))
                binds.append(.float(s.lastSeen))
            }
            let sql = """
                INSERT INTO users (app_id, id, email, name, avatar_url, first_seen, last_seen) VALUES \(values)
                ON CONFLICT (app_id, id) DO UPDATE SET
                    email = COALESCE(excluded.email, users.email),
                    name = COALESCE(excluded.name, users.name),
                    avatar_url = COALESCE(excluded.avatar_url, users.avatar_url),
                    first_seen = MIN(users.first_seen, excluded.first_seen),
                    last_seen = MAX(users.last_seen, excluded.last_seen)
                """
            futures.append(connection.query(sql, binds).map { _ in })
        }
        return EventLoopFuture.andAllSucceed(futures, on: connection.eventLoop)
            .flatMapErrorThrowing { throw UserStoreError.queryFailed(Self.reason($0)) }
            .hop(to: eventLoop)
    }

    public func list(app: String, after: String?, limit: Int, on eventLoop: EventLoop) -> EventLoopFuture<[UserRecord]> {
        guard isOpen else { return eventLoop.makeFailedFuture(UserStoreError.closed) }
        let sql: String
        var binds: [SQLiteData] = [.text(app)]
        if let after {
            sql = "SELECT \(Self.columns) FROM users WHERE app_id = ? AND id > ? ORDER BY id LIMIT ?"
            binds.append(.text(after))
        } else {
            sql = "SELECT \(Self.columns) FROM users WHERE app_id = ? ORDER BY id LIMIT ?"
        }
        binds.append(.integer(max(0, limit)))
        return rows(sql, binds, on: eventLoop)
    }

    public func listAll(app: String?, on eventLoop: EventLoop) -> EventLoopFuture<[UserRecord]> {
        guard isOpen else { return eventLoop.makeFailedFuture(UserStoreError.closed) }
        if let app {
            return rows("SELECT \(Self.columns) FROM users WHERE app_id = ? ORDER BY id", [.text(app)], on: eventLoop)
        }
        return rows("SELECT \(Self.columns) FROM users ORDER BY app_id, id", [], on: eventLoop)
    }

    public func close() async {
        let wasOpen = open.withLockedValue { value -> Bool in
            defer { value = false }
            return value
        }
        guard wasOpen else { return }
        try? await connection.close().get()
        try? await threadPool.shutdownGracefully()
    }

    private static let columns = "app_id, id, email, name, avatar_url, first_seen, last_seen"

    private func rows(_ sql: String, _ binds: [SQLiteData], on eventLoop: EventLoop) -> EventLoopFuture<[UserRecord]> {
        connection.query(sql, binds)
            .flatMapErrorThrowing { throw UserStoreError.queryFailed(Self.reason($0)) }
            .map { rows in rows.compactMap(Self.record) }
            .hop(to: eventLoop)
    }

    private static func record(_ row: SQLiteRow) -> UserRecord? {
        guard let app = row.column("app_id")?.string, let id = row.column("id")?.string else { return nil }
        return UserRecord(
            appID: app, id: id,
            profile: UserProfile(
                email: row.column("email")?.string, name: row.column("name")?.string,
                avatarURL: row.column("avatar_url")?.string
            ),
            firstSeen: row.column("first_seen")?.double ?? 0,
            lastSeen: row.column("last_seen")?.double ?? 0
        )
    }

    private static func data(_ value: String?) -> SQLiteData {
        value.map { .text($0) } ?? .null
    }

    private static func reason(_ error: Error) -> String {
        if let error = error as? SQLiteError { return error.message }
        return "\(error)"
    }
}
