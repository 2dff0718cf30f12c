import NIOCore

/// A user seen by the gate or `/_auth/me`, as the store merges it: fields given here
/// replace stored ones, `nil` keeps what is stored; `first_seen` keeps the earliest,
/// `last_seen` the latest.
public struct UserSighting: Sendable, Equatable {
    public var appID: String
    public var id: String
    public var profile: UserProfile
    public var firstSeen: Double
    public var lastSeen: Double

    public init(appID: String, id: String, profile: UserProfile, firstSeen: Double, lastSeen: Double) {
        self.appID = appID
        self.id = id
        self.profile = profile
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}

/// Where the per-app user lists live (SPEC "Auth endpoints": SQLite embedded,
/// PostgreSQL for replicas). Every call does its I/O off the event loops and completes
/// its future on the loop it was given.
public protocol UserStore: Sendable {
    /// Merges the sightings (one upsert per user; see ``UserSighting``).
    func record(_ sightings: [UserSighting], on eventLoop: EventLoop) -> EventLoopFuture<Void>
    /// Up to `limit` users of `app` with an id after `after` (all when `nil`), ordered by
    /// id (byte order of the UTF-8).
    func list(app: String, after: String?, limit: Int, on eventLoop: EventLoop) -> EventLoopFuture<[UserRecord]>
    /// Every app's users, for `gatehouse users list` (ordered by app, then id).
    func listAll(app: String?, on eventLoop: EventLoop) -> EventLoopFuture<[UserRecord]>
    /// Whether the store is open (what `/readyz` reports as "stores open").
    var isOpen: Bool { get }
    /// Closes the store; later calls fail.
    func close() async
}

/// `users.store` parsed: which store to open.
public enum UserStoreLocation: Sendable, Equatable {
    case sqliteFile(String)
    case sqliteMemory
    case postgres(PostgresStoreURL)

    /// `sqlite:PATH`, `sqlite::memory:` or a `postgres://` URL (the configuration loader
    /// checked the prefix; the URL itself is parsed here).
    public init(_ store: String) throws(UserStoreError) {
        if store.hasPrefix("sqlite:") {
            let path = String(store.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw .badLocation("sqlite: needs a file path") }
            self = path == ":memory:" ? .sqliteMemory : .sqliteFile(path)
        } else if store.hasPrefix("postgres://") || store.hasPrefix("postgresql://") {
            self = .postgres(try PostgresStoreURL(store))
        } else {
            throw .badLocation("expected sqlite:PATH or a postgres:// URL")
        }
    }
}

/// Opens the store `users.store` names.
public enum UserStores {
    /// - Throws: ``UserStoreError`` (one line, never the password) when the store cannot
    ///   be opened: a bad location, a file that cannot be opened, a PostgreSQL server
    ///   that cannot be reached in time or refuses the login.
    public static func open(_ store: String, eventLoop: EventLoop) async throws -> any UserStore {
        switch try UserStoreLocation(store) {
        case .sqliteFile(let path):
            return try await SQLiteUserStore.open(path: path, eventLoop: eventLoop)
        case .sqliteMemory:
            return try await SQLiteUserStore.open(path: nil, eventLoop: eventLoop)
        case .postgres(let url):
            return try await PostgresUserStore.open(url, eventLoop: eventLoop)
        }
    }
}
