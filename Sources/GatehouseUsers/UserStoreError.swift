/// Why the user store could not be opened or used. One struct over a private enum
/// (STYLE habit 7); the description names the store, never a password.
public struct UserStoreError: Error, CustomStringConvertible, Equatable {
    private enum Code: Equatable {
        case unsupported
        case badLocation
        case openFailed
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

    static let closed = UserStoreError(.closed, "users.store: the store is closed")

    static func queryFailed(_ reason: String) -> UserStoreError {
        UserStoreError(.queryFailed, "users.store: \(reason)")
    }

    /// Whether the configured kind of store is one this build cannot use (PostgreSQL).
    public var isUnsupported: Bool { code == .unsupported }
}
