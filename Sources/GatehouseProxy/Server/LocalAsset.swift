import GatehouseAuth

/// A static text file Gatehouse serves itself (the browser SDK at `/_auth/sdk.js`): its
/// body, content type, caching policy and a strong entity tag, all fixed at start.
///
/// Immutable and `Sendable`; built once, read from every event loop.
public struct LocalAsset: Sendable {
    public let contentType: String
    public let body: String
    /// `Cache-Control` sent with the asset and with its `304`.
    public let cacheControl: String
    /// A strong entity tag (RFC 9110 §8.8.3): the quoted first 32 hex digits of the
    /// body's SHA-256, so it changes exactly when the body does.
    public let etag: String
    /// The body's length in bytes (`Content-Length` of a `GET` and of a `HEAD`).
    public let byteCount: Int

    public init(contentType: String, body: String, cacheControl: String) {
        self.contentType = contentType
        self.body = body
        self.cacheControl = cacheControl
        self.etag = "\"" + APIKeyHash.hex(Array(body.utf8)).prefix(32) + "\""
        self.byteCount = body.utf8.count
    }

    /// Whether `If-None-Match` values name this asset: `*`, or any listed tag under the
    /// weak comparison RFC 9110 §13.1.2 prescribes for this header (`W/` is ignored).
    public func isMatched(byIfNoneMatch values: [String]) -> Bool {
        for value in values {
            for candidate in value.split(separator: ",") {
                var tag = candidate.drop { $0 == " " || $0 == "\t" }
                while let last = tag.last, last == " " || last == "\t" { tag = tag.dropLast() }
                if tag == "*" { return true }
                if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
                if tag == etag { return true }
            }
        }
        return false
    }
}
