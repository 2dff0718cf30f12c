import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// The `gatehouse_users` table, applied once per open on a connection of its own.
///
/// Replicas that start together would race in `CREATE TABLE IF NOT EXISTS` (the loser
/// fails on `pg_type`'s unique index), so the statement runs in a transaction that first
/// takes a transaction-scoped advisory lock: one replica creates, the others wait and then
/// find the table. Then a `LIMIT 0` select checks that a table of that name has our
/// columns (not someone else's `gatehouse_users`).
enum PostgresSchema {
    static let create = """
        CREATE TABLE IF NOT EXISTS \(PostgresUserStore.table) (
            app_id TEXT COLLATE "C" NOT NULL,
            id TEXT COLLATE "C" NOT NULL,
            email TEXT,
            name TEXT,
            avatar_url TEXT,
            first_seen DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (app_id, id)
        )
        """

    /// Connects, applies the schema, disconnects; all within `url.connectTimeout` seconds.
    static func apply(
        url: PostgresStoreURL, tls: PostgresConnection.Configuration.TLS, eventLoop: EventLoop, logger: Logger
    ) async throws {
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database, tls: tls)
        configuration.options.connectTimeout = .seconds(Int64(url.connectTimeout))
        try await withDeadline(seconds: url.connectTimeout, endpoint: url.endpoint) { [configuration] in
            let connection: PostgresConnection
            do {
                connection = try await PostgresConnection.connect(on: eventLoop, configuration: configuration, id: 0, logger: logger)
            } catch {
                throw UserStoreError.connectFailed(url.endpoint, PostgresErrorReason.describe(error))
            }
            do {
                // A server that stops answering mid-way: the deadline closes the connection.
                try await withTaskCancellationHandler {
                    try await createTable(on: connection, logger: logger)
                } onCancel: {
                    connection.close().whenComplete { _ in }
                }
            } catch {
                try? await connection.close()
                throw UserStoreError.schemaFailed(url.endpoint, PostgresErrorReason.describe(error))
            }
            try? await connection.close()
        }
    }

    private static func createTable(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            var lock = PostgresBindings(capacity: 1)
            lock.append(PostgresUserStore.schemaLockKey)
            try await connection.query(PostgresQuery(unsafeSQL: "SELECT pg_advisory_xact_lock($1)", binds: lock), logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: create), logger: logger)
        }
        let check = "SELECT \(PostgresUserStore.columns) FROM \(PostgresUserStore.table) LIMIT 0"
        try await connection.query(PostgresQuery(unsafeSQL: check), logger: logger)
    }

    /// `work`, or a ``UserStoreError`` once `seconds` passed. On time-out `work` is
    /// cancelled and not waited for (a connect that ignores cancellation cannot hold the
    /// open up); it closes whatever it opened itself.
    static func withDeadline(
        seconds: Int, endpoint: String, _ work: @escaping @Sendable () async throws -> Void
    ) async throws {
        let pending = NIOLockedValueBox<CheckedContinuation<Void, Error>?>(nil)
        let finish: @Sendable (Result<Void, Error>) -> Void = { result in
            pending.withLockedValue { continuation in
                continuation?.resume(with: result)
                continuation = nil
            }
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            pending.withLockedValue { $0 = continuation }
            let timer = Task {
                try await Task.sleep(for: .seconds(seconds))
                finish(.failure(UserStoreError.connectFailed(endpoint, "timed out after \(seconds) s without an answer")))
            }
            let task = Task {
                do {
                    try await work()
                    finish(.success(()))
                } catch {
                    finish(.failure(error))
                }
                timer.cancel()
            }
            Task {
                _ = await timer.result
                task.cancel()
            }
        }
    }
}

/// One line on why a PostgreSQL call failed. `PSQLError`'s own description hides
/// everything (it might hold a query's values); this takes only the server's message,
/// the socket error or the failure's kind: never a bound value or the password.
enum PostgresErrorReason {
    static func describe(_ error: Error) -> String {
        switch error {
        case let error as UserStoreError:
            return error.description
        case let error as PSQLError:
            return describe(error)
        case let error as PostgresTransactionError:
            if let inner = error.closureError ?? error.beginError ?? error.commitError { return describe(inner) }
            return "the transaction failed"
        case let error as NIOConnectionError:
            if let dns = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve the host name (\(describe(dns)))" }
            if let first = error.connectionErrors.first { return describe(first.error) }
            return "cannot connect"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode))
        case let error as ChannelError:
            if case .connectTimeout(let after) = error {
                return "timed out after \(after.nanoseconds / 1_000_000_000) s connecting"
            }
            return "\(error)"
        case is CancellationError:
            return "cancelled"
        default:
            return "\(error)"
        }
    }

    private static func describe(_ error: PSQLError) -> String {
        switch error.code {
        case .server:
            let message = error.serverInfo?[.message] ?? "the server reported an error"
            if let state = error.serverInfo?[.sqlState] { return "\(message) (SQLSTATE \(state))" }
            return message
        case .connectionError:
            return error.underlying.map(describe) ?? "connection error"
        case .sslUnsupported:
            return "the server does not offer TLS (sslmode requires it)"
        case .serverClosedConnection:
            return "the server closed the connection"
        case .authMechanismRequiresPassword:
            return "the server asks for a password and the URL has none"
        case .unsupportedAuthMechanism:
            return "the server asks for an authentication method this client does not support"
        default:
            if let underlying = error.underlying { return "\(error.code): \(describe(underlying))" }
            return "\(error.code)"
        }
    }
}
