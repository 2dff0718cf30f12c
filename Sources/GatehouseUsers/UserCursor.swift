import GatehouseAuth

/// The `cursor` of `/_auth/users` paging: the last id of the page before, as unpadded
/// base64url (RFC 4648 §5), so it is opaque to clients and needs no escaping in a URL.
/// Users are ordered by id, so "after this id" names the next page exactly, whatever
/// users are added meanwhile.
public struct UserCursor: Sendable, Equatable {
    /// Ids longer than this are not ids Gatehouse stored (a JWT `sub` is short).
    public static let maxIDBytes = 1024

    public let lastID: String

    public init(lastID: String) {
        self.lastID = lastID
    }

    /// The cursor's text for a URL.
    public var encoded: String { Base64URL.encode(Array(lastID.utf8)) }

    /// Parses a cursor a client sent back; `nil` (a 400) for anything that is not the
    /// canonical encoding of a non-empty UTF-8 id.
    public init?(encoded text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.count <= (Self.maxIDBytes * 4 + 2) / 3 + 1,
              let bytes = Base64URL.decode(text), !bytes.isEmpty, bytes.count <= Self.maxIDBytes,
              let id = String(validating: bytes, as: UTF8.self), !id.contains("\0") else { return nil }
        self.lastID = id
    }
}
