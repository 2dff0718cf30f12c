import Foundation
import GatehouseUsers
import Logging
import NIOPosix
import PostgresNIO

/// A fresh database of its own on the test PostgreSQL server, for one test: created by
/// ``create()`` through an admin connection, removed by ``drop()``, so tests run in
/// parallel without seeing each other.
///
/// The server comes from `GATEHOUSE_TEST_POSTGRES_URL` (a role that may create databases;
/// `scripts/postgres-test-server.sh` starts one and prints the line to export). Without
/// it, PostgreSQL tests are skipped (``shouldRun`` is false), except when `CI` is set:
/// there they run and ``create()`` fails with a message saying what is missing, so CI
/// never passes by skipping them.
public struct TestPostgres: Sendable {
    public static let environmentVariable = "GATEHOUSE_TEST_POSTGRES_URL"

    /// The server's URL, `nil` when the variable is unset or empty.
    public static var serverURL: String? {
        guard let url = ProcessInfo.processInfo.environment[environmentVariable], !url.isEmpty else { return nil }
        return url
    }

    /// Whether this run is CI (`CI` set and not empty), where a missing server is a failure.
    public static var isCI: Bool {
        !(ProcessInfo.processInfo.environment["CI"] ?? "").isEmpty
    }

    /// Whether PostgreSQL tests run: a server is named, or this is CI.
    public static var shouldRun: Bool { serverURL != nil || isCI }

    /// The database's name (`gh_test_` and 16 hex digits).
    public let name: String
    /// A `users.store` URL for the database.
    public let url: String
    private let server: PostgresStoreURL

    /// Creates a new empty database (UTF-8, from `template0`).
    public static func create() async throws -> TestPostgres {
        guard let serverURL else {
            throw TestPostgresError(
                "\(environmentVariable) is not set, and CI is: the PostgreSQL tests must run here. "
                    + "Start a server with scripts/postgres-test-server.sh and export the line it prints.")
        }
        let server = try PostgresStoreURL(serverURL)
        guard var components = URLComponents(string: serverURL) else { throw TestPostgresError("\(environmentVariable) is not a URL") }
        let name = "gh_test_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        components.path = "/" + name
        // Hundreds of tests run in parallel on two cores: a connection start-up can take
        // several seconds then, so tests allow more than the 5 s default.
        if !(components.percentEncodedQuery ?? "").contains("connect_timeout") {
            components.percentEncodedQuery = [components.percentEncodedQuery, "connect_timeout=30"].compactMap { $0 }.joined(separator: "&")
        }
        guard let url = components.string else { throw TestPostgresError("cannot build a URL for \(name)") }
        // The name is ours (hex digits), not a value from outside: safe to splice.
        try await admin(server, "CREATE DATABASE \(name) TEMPLATE template0 ENCODING 'UTF8'")
        return TestPostgres(name: name, url: url, server: server)
    }

    /// Drops the database, closing whatever is still connected to it.
    public func drop() async {
        try? await Self.admin(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// `url` with `parameters` (`key=value&…`) added, or its database replaced.
    public func url(database: String? = nil, parameters: String? = nil) -> String {
        guard var components = URLComponents(string: url) else { return url }
        if let database { components.path = "/" + database }
        if let parameters {
            components.percentEncodedQuery = [components.percentEncodedQuery, parameters].compactMap { $0 }.joined(separator: "&")
        }
        return components.string ?? url
    }

    /// Runs one statement (as the server URL's role) in this test's database.
    public func execute(_ sql: String) async throws {
        try await Self.admin(server, sql, database: name)
    }

    /// Runs one statement on the server's own database, or on `database`.
    private static func admin(_ server: PostgresStoreURL, _ sql: String, database: String? = nil) async throws {
        let configuration = PostgresConnection.Configuration(
            host: server.host, port: server.port, username: server.username, password: server.password,
            database: database ?? server.database, tls: .disable)
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1,
            logger: Logger(label: "gatehouse.test.postgres"))
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "gatehouse.test.postgres"))
        } catch {
            try? await connection.close()
            throw TestPostgresError("\(sql): \(String(reflecting: error))")
        }
        try? await connection.close()
    }
}

/// Why a test database could not be set up.
public struct TestPostgresError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
