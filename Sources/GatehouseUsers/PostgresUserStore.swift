import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import PostgresNIO

/// The user store several replicas share: one PostgreSQL table, `gatehouse_users`, keyed
/// by `(app_id, id)`, with the same columns and merge rules as ``SQLiteUserStore``.
///
/// Statements go through a `PostgresClient` (a connection pool) whose `run()` is a task
/// the store owns from ``open(_:eventLoop:logger:)`` to ``close()``. The pool's
/// connections live on the event loop given to `open` and do non-blocking I/O only; each
/// call's future completes on the loop it was given. Values are always bound parameters.
/// `app_id` and `id` use the "C" collation, so ids sort by the bytes of their UTF-8, as in
/// SQLite.
public final class PostgresUserStore: UserStore {
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let location: PostgresStoreURL
    private let logger: Logger
    private let open = NIOLockedValueBox(true)
    /// Rows per INSERT statement (7 bound values each; PostgreSQL takes up to 65 535).
    static let batchRows = 1_000
    static let table = "gatehouse_users"
    /// The `pg_advisory_xact_lock` key that serialises schema changes across replicas
    /// ("gatehouse" in ASCII).
    static let schemaLockKey: Int64 = 0x6761_7465_686F_7573

    private init(client: PostgresClient, runTask: Task<Void, Never>, location: PostgresStoreURL, logger: Logger) {
        self.client = client
        self.runTask = runTask
        self.location = location
        self.logger = logger
    }

    /// Connects to the database `url` names, creates the table when missing (safe when
    /// several replicas start at once), then starts the pool.
    ///
    /// - Throws: ``UserStoreError`` naming `host:port` (never the password) when the server
    ///   cannot be reached, refuses the login, or does not answer within the URL's
    ///   `connect_timeout` (5 s by default).
    public static func open(
        _ url: PostgresStoreURL, eventLoop: EventLoop, logger: Logger = Logger(label: "gatehouse.users")
    ) async throws -> PostgresUserStore {
        // PostgresNIO reports every failed connection attempt at `info`; the store
        // reports what matters itself (one line at open, a failed call's error).
        var logger = logger
        logger.logLevel = max(logger.logLevel, .warning)
        let tls = clientTLS(url)
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: tls)
        configuration.options.connectTimeout = .seconds(Int64(url.connectTimeout))
        configuration.options.maximumConnections = 8
        configuration.options.connectionIdleTimeout = .seconds(60)

        // One connection of its own first: its failure says why (the pool would retry
        // quietly), and the schema is applied before the pool serves anything.
        try await PostgresSchema.apply(url: url, tls: connectionTLS(url), eventLoop: eventLoop, logger: logger)

        let client = PostgresClient(configuration: configuration, eventLoopGroup: eventLoop, backgroundLogger: logger)
        let runTask = Task { await client.run() }
        return PostgresUserStore(client: client, runTask: runTask, location: url, logger: logger)
    }

    public var isOpen: Bool { open.withLockedValue { $0 } }

    public func record(_ sightings: [UserSighting], on eventLoop: EventLoop) -> EventLoopFuture<Void> {
        guard isOpen else { return eventLoop.makeFailedFuture(UserStoreError.closed) }
        guard !sightings.isEmpty else { return eventLoop.makeSucceededVoidFuture() }
        let merged = Self.merged(sightings)
        var statements: [PostgresQuery] = []
        var start = 0
        while start < merged.count {
            statements.append(Self.upsert(merged[start..<min(start + Self.batchRows, merged.count)]))
            start += Self.batchRows
        }
        let client = self.client
        let logger = self.logger
        return run(on: eventLoop) { [statements] in
            if statements.count == 1 {
                try await client.query(statements[0], logger: logger)
            } else {
                // Big batches: all or nothing, like SQLite's single statement.
                try await client.withTransaction(logger: logger) { connection in
                    for statement in statements { try await connection.query(statement, logger: logger) }
                }
            }
        }
    }

    public func list(app: String, after: String?, limit: Int, on eventLoop: EventLoop) -> EventLoopFuture<[UserRecord]> {
        guard isOpen else { return eventLoop.makeFailedFuture(UserStoreError.closed) }
        var binds = PostgresBindings(capacity: 3)
        binds.append(app)
        let filter: String
        if let after {
            binds.append(after)
            filter = #"app_id = $1 AND id > $2 COLLATE "C""#
        } else {
            filter = "app_id = $1"
        }
        binds.append(max(0, limit))
        let sql = "SELECT \(Self.columns) FROM \(Self.table) WHERE \(filter) ORDER BY \(Self.idOrder) LIMIT $\(binds.count)"
        return rows(PostgresQuery(unsafeSQL: sql, binds: binds), on: eventLoop)
    }

    public func listAll(app: String?, on eventLoop: EventLoop) -> EventLoopFuture<[UserRecord]> {
        guard isOpen else { return eventLoop.makeFailedFuture(UserStoreError.closed) }
        if let app {
            var binds = PostgresBindings(capacity: 1)
            binds.append(app)
            let sql = "SELECT \(Self.columns) FROM \(Self.table) WHERE app_id = $1 ORDER BY \(Self.idOrder)"
            return rows(PostgresQuery(unsafeSQL: sql, binds: binds), on: eventLoop)
        }
        let sql = #"SELECT \#(Self.columns) FROM \#(Self.table) ORDER BY app_id COLLATE "C", \#(Self.idOrder)"#
        return rows(PostgresQuery(unsafeSQL: sql), on: eventLoop)
    }

    /// Stops the pool (its `run()` task is cancelled and awaited); calls in flight fail.
    public func close() async {
        let wasOpen = open.withLockedValue { value -> Bool in
            defer { value = false }
            return value
        }
        guard wasOpen else { return }
        runTask.cancel()
        // Bounded: a pool that does not wind down must not hold up a shutdown.
        let stopped = await Self.waitForTask(runTask, seconds: 5)
        if !stopped { logger.warning("PostgreSQL pool did not stop within 5 s after close") }
    }

    /// Whether `task` finished within `seconds` (its result is not waited for after).
    private static func waitForTask(_ task: Task<Void, Never>, seconds: Int) async -> Bool {
        let once = NIOLockedValueBox<CheckedContinuation<Bool, Never>?>(nil)
        return await withCheckedContinuation { continuation in
            once.withLockedValue { $0 = continuation }
            let finish: @Sendable (Bool) -> Void = { value in
                once.withLockedValue { pending in
                    pending?.resume(returning: value)
                    pending = nil
                }
            }
            Task {
                await task.value
                finish(true)
            }
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                finish(false)
            }
        }
    }

    // MARK: Statements

    static let columns = "app_id, id, email, name, avatar_url, first_seen, last_seen"
    private static let idOrder = #"id COLLATE "C""#

    /// One `INSERT … ON CONFLICT DO UPDATE` for up to ``batchRows`` distinct users.
    static func upsert(_ chunk: ArraySlice<UserSighting>) -> PostgresQuery {
        var binds = PostgresBindings(capacity: chunk.count * 7)
        var values: [String] = []
        values.reserveCapacity(chunk.count)
        for s in chunk {
            let n = binds.count
            values.append("($\(n + 1), $\(n + 2), $\(n + 3), $\(n + 4), $\(n + 5), $\(n + 6), $\(n + 7))")
            binds.append(s.appID)
            binds.append(s.id)
            binds.append(s.profile.email)
            binds.append(s.profile.name)
            binds.append(s.profile.avatarURL)
            binds.append(s.firstSeen)
            binds.append(s.lastSeen)
        }
        let sql = """
            INSERT INTO \(table) AS users (\(columns)) VALUES \(values.joined(separator: ", "))
            ON CONFLICT (app_id, id) DO UPDATE SET
                email = COALESCE(EXCLUDED.email, users.email),
                name = COALESCE(EXCLUDED.name, users.name),
                avatar_url = COALESCE(EXCLUDED.avatar_url, users.avatar_url),
                first_seen = LEAST(users.first_seen, EXCLUDED.first_seen),
                last_seen = GREATEST(users.last_seen, EXCLUDED.last_seen)
            """
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    /// One sighting per user, merged in order as the store would merge them one by one
    /// (PostgreSQL refuses to update a row twice in one statement), sorted by key so
    /// that concurrent batches from several replicas lock rows in the same order.
    static func merged(_ sightings: [UserSighting]) -> [UserSighting] {
        // By bytes: Swift's String equality is canonical equivalence ("é" == "e\u{301}"),
        // the stores compare bytes.
        struct Key: Hashable {
            let app: [UInt8]
            let id: [UInt8]
        }
        var byKey: [Key: UserSighting] = [:]
        byKey.reserveCapacity(sightings.count)
        for s in sightings {
            let key = Key(app: Array(s.appID.utf8), id: Array(s.id.utf8))
            guard var existing = byKey[key] else {
                byKey[key] = s
                continue
            }
            existing.profile = UserProfile(
                email: s.profile.email ?? existing.profile.email, name: s.profile.name ?? existing.profile.name,
                avatarURL: s.profile.avatarURL ?? existing.profile.avatarURL)
            existing.firstSeen = min(existing.firstSeen, s.firstSeen)
            existing.lastSeen = max(existing.lastSeen, s.lastSeen)
            byKey[key] = existing
        }
        return byKey.values.sorted { a, b in
            a.appID != b.appID ? a.appID.utf8.lexicographicallyPrecedes(b.appID.utf8) : a.id.utf8.lexicographicallyPrecedes(b.id.utf8)
        }
    }

    // MARK: Running

    private func rows(_ query: PostgresQuery, on eventLoop: EventLoop) -> EventLoopFuture<[UserRecord]> {
        let client = self.client
        let logger = self.logger
        return run(on: eventLoop) {
            var records: [UserRecord] = []
            let rows = try await client.query(query, logger: logger)
            for try await (app, id, email, name, avatar, first, last) in rows.decode(
                (String, String, String?, String?, String?, Double, Double).self)
            {
                records.append(UserRecord(
                    appID: app, id: id, profile: UserProfile(email: email, name: name, avatarURL: avatar),
                    firstSeen: first, lastSeen: last))
            }
            return records
        }
    }

    /// Runs `work` in a task; its result (or a ``UserStoreError``) completes a future on
    /// `eventLoop`.
    private func run<Value: Sendable>(
        on eventLoop: EventLoop, _ work: @escaping @Sendable () async throws -> Value
    ) -> EventLoopFuture<Value> {
        let promise = eventLoop.makePromise(of: Value.self)
        promise.completeWithTask { [open] in
            do {
                return try await work()
            } catch {
                if !open.withLockedValue({ $0 }) { throw UserStoreError.closed }
                throw UserStoreError.queryFailed(PostgresErrorReason.describe(error))
            }
        }
        return promise.futureResult
    }

    // MARK: TLS

    private static func tlsConfiguration(_ url: PostgresStoreURL) -> TLSConfiguration? {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch url.tls {
        case .disable: return nil
        case .allow, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        return tls
    }

    private static func clientTLS(_ url: PostgresStoreURL) -> PostgresClient.Configuration.TLS {
        guard let tls = tlsConfiguration(url) else { return .disable }
        switch url.tls {
        case .allow, .prefer: return .prefer(tls)
        default: return .require(tls)
        }
    }

    private static func connectionTLS(_ url: PostgresStoreURL) throws -> PostgresConnection.Configuration.TLS {
        guard let tls = tlsConfiguration(url) else { return .disable }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw UserStoreError.connectFailed(url.endpoint, "cannot set up TLS: \(error)")
        }
        switch url.tls {
        case .allow, .prefer: return .prefer(context)
        default: return .require(context)
        }
    }
}
