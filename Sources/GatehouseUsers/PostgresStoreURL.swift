import Foundation

/// A `users.store` PostgreSQL URL, parsed:
/// `postgres://USER[:PASSWORD]@HOST[:PORT][/DATABASE][?sslmode=…&connect_timeout=…]`
/// (`postgresql://` too; user, password and database percent-decoded, as libpq reads them).
///
/// The description is `host:port/database` only: the password never leaves this value
/// except into the connection's configuration.
public struct PostgresStoreURL: Sendable, Equatable, CustomStringConvertible {
    /// How the connection uses TLS: libpq's `sslmode` values.
    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, plain otherwise; the certificate is not checked.
        case allow, prefer
        /// TLS or no connection; the certificate is not checked (libpq's meaning).
        case require
        /// TLS with a certificate signed by a trusted CA, any host name.
        case verifyCA = "verify-ca"
        /// TLS with a trusted certificate for the host name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    /// `nil` when the URL names none (the server may trust the user).
    public var password: String?
    /// `nil` when the URL names none: the server then opens the user's own database.
    public var database: String?
    public var tls: TLSMode
    /// Seconds the open may take, connecting and applying the schema (`connect_timeout`).
    public var connectTimeout: Int

    public static let defaultPort = 5432
    public static let defaultConnectTimeout = 5
    static let parameters = ["sslmode", "connect_timeout", "password"]

    /// Parses `url`. Without `sslmode`, a loopback host means `disable` and any other host
    /// `prefer` (libpq's default).
    public init(_ url: String) throws(UserStoreError) {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw .badLocation("expected a postgres:// URL")
        }
        guard let components = URLComponents(string: url) else {
            throw .badLocation("the postgres:// URL is not a valid URL")
        }
        var host = components.host ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .badLocation("the postgres:// URL needs a host") }
        let port = components.port ?? Self.defaultPort
        guard (1...65_535).contains(port) else { throw .badLocation("the postgres:// URL's port must be 1-65535") }
        guard let username = components.user, !username.isEmpty else {
            throw .badLocation("the postgres:// URL needs a user name (postgres://USER:PASSWORD@HOST/DB)")
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.contains("/") else { throw .badLocation("the postgres:// URL's path must be one database name") }

        var password = components.password
        var tls: TLSMode?
        var connectTimeout = Self.defaultConnectTimeout
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw .badLocation("sslmode must be one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                tls = mode
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0 else {
                    throw .badLocation("connect_timeout must be a whole number of seconds above 0")
                }
                connectTimeout = seconds
            case "password":
                password = value
            default:
                throw .badLocation(
                    "the postgres:// URL has an unknown parameter \(item.name) (known: \(Self.parameters.joined(separator: ", ")))")
            }
        }
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = path.isEmpty ? nil : path
        self.tls = tls ?? (Self.isLoopback(host) ? .disable : .prefer)
        self.connectTimeout = connectTimeout
    }

    /// `host:port`, what errors name (IPv6 in brackets).
    public var endpoint: String {
        (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }

    public var description: String {
        endpoint + "/" + (database ?? username)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
