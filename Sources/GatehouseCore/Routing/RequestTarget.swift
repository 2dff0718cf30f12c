/// A request target after normalisation: the path Gatehouse matches routes on and forwards,
/// and the query string passed through untouched.
///
/// SPEC "Routing": paths are matched after percent-decoding of unreserved characters,
/// removal of dot segments (RFC 3986 §5.2.4) and merging of repeated slashes, so that
/// `/_api/../x`, `/%5F_api/x` or `//_api/x` can never reach an upstream by a route the
/// gate did not see. A target that cannot be normalised safely is rejected (400).
public struct RequestTarget: Sendable, Equatable {
    /// Normalised absolute path, always starting with `/`.
    public var path: String
    /// Raw query string without the `?`, if any.
    public var query: Substring?

    public init(path: String, query: Substring?) {
        self.path = path
        self.query = query
    }

    /// The target as sent upstream: `basePath`, `path`, then `?query` when there was one,
    /// built in one allocation.
    public func uri(basePath: String, path: Substring) -> String {
        var uri = ""
        uri.reserveCapacity(basePath.utf8.count + path.utf8.count + (query.map { $0.utf8.count + 1 } ?? 0))
        uri += basePath
        uri += path
        if let query {
            uri += "?"
            uri += query
        }
        return uri
    }
}

/// Why a request target was refused; every case answers 400.
public enum RequestTargetError: Error, Sendable, Equatable {
    case notOriginForm
    case encodedSeparator
    case backslash
    case nulByte
    case invalidPercentEncoding
    case climbsAboveRoot
    case controlCharacter
}
