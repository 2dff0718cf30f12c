/// A secret configuration value (owner key, Clerk secret key, database URL).
///
/// Its `description` is always `***` so that a secret printed by mistake, in a log line,
/// an error or `gatehouse check`, never shows; read ``value`` only where it is sent.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let value: String

    public init(_ value: String) {
        self.value = value
    }

    public var description: String { "***" }
    public var debugDescription: String { "***" }
}
