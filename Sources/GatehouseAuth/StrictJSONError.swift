/// Why ``StrictJSON`` refused a document.
///
/// A struct over a private enum (the swift-nio habit) so cases can be added without breaking
/// callers. The description names the problem and byte offset only, never the input, since the
/// input may be a token or a key.
public struct StrictJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Base: Sendable, Equatable {
        case invalidUTF8
        case unexpectedEnd
        case unexpectedByte
        case invalidNumber
        case invalidString
        case duplicateMember
        case tooDeep
        case trailingData
    }

    private let base: Base
    /// Byte offset where the problem was found.
    public let offset: Int

    private init(_ base: Base, _ offset: Int) {
        self.base = base
        self.offset = offset
    }

    static func invalidUTF8(at o: Int) -> Self { .init(.invalidUTF8, o) }
    static func unexpectedEnd(at o: Int) -> Self { .init(.unexpectedEnd, o) }
    static func unexpectedByte(at o: Int) -> Self { .init(.unexpectedByte, o) }
    static func invalidNumber(at o: Int) -> Self { .init(.invalidNumber, o) }
    static func invalidString(at o: Int) -> Self { .init(.invalidString, o) }
    static func tooDeep(at o: Int) -> Self { .init(.tooDeep, o) }
    static func trailingData(at o: Int) -> Self { .init(.trailingData, o) }

    /// The document has the same member name twice in one object.
    public static func duplicateMember(at o: Int) -> Self { .init(.duplicateMember, o) }

    /// True when the document was refused for a duplicate member name.
    public var isDuplicateMember: Bool { base == .duplicateMember }

    public var description: String {
        let what: String
        switch base {
        case .invalidUTF8: what = "invalid UTF-8"
        case .unexpectedEnd: what = "unexpected end of input"
        case .unexpectedByte: what = "unexpected byte"
        case .invalidNumber: what = "invalid number"
        case .invalidString: what = "invalid string"
        case .duplicateMember: what = "duplicate object member"
        case .tooDeep: what = "nesting deeper than \(StrictJSON.maximumDepth)"
        case .trailingData: what = "data after the JSON value"
        }
        return "JSON: \(what) at byte \(offset)"
    }
}
