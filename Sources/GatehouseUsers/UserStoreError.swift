/// Why the user store could not be opened or used. One struct over a private enum
/// (STYLE habit 7); the description names the store, never a password.
public struct UserStoreError: Error, CustomStringConvertible, Equatable {
    private enum Code: Equatable {
        case unsupported
        case badLocation
        case openFailed
        case connectFailed
        case closed
        case queryFailed
    }

    private let code: Code
    public let description: String

    private init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }

    static func unsupported(_ what: String) -> UserStoreError {
        UserStoreError(.unsupported, "users.store: \(what)")
    }

    static func badLocation(_ what: String) -> UserStoreError {
        UserStoreError(.badLocation, "users.store: \(what)")
    }

    static func openFailed(_ path: String, _ reason: String) -> UserStoreError {
        UserStoreError(.openFailed, "users.store: cannot open sqlite:\(path): \(reason)")
    }

    /// `endpoint` is `host:port` (never the URL: it may hold a password).
    static func connectFailed(_ endpoint: String, _ reason: String) -> UserStoreError {
        UserStoreError(.connectFailed, "users.store: cannot connect to PostgreSQL at \(endpoint): \(reason)")
    }

    /// The server answered, but the schema could not be applied or checked.
    static func schemaFailed(_ endpoint: String, _ reason: String) -> UserStoreError {
        UserStoreError(.openFailed, "users.store: PostgreSQL at \(endpoint): cannot use the users table: \(reason)")
    }

    static let closed = UserStoreError(.closed, "users.store: the store is closed")

    static func queryFailed(_ reason: String) -> UserStoreError {
        UserStoreError(.queryFailed, "users.store: \(reason)")
    }

    /// Whether the configured kind of store is one this build cannot use.
    public var isUnsupported: Bool { code == .unsupported }

    /// Whether the store's server could not be reached or refused the login.
    public var isConnectFailure: Bool { code == .connectFailed }
}
