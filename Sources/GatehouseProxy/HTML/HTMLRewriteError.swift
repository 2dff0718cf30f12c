/// Why an HTML response being injected could not be finished. The response has started
/// by then, so the only answer is to close the client connection.
struct HTMLRewriteError: Error, Equatable, CustomStringConvertible {
    private enum Reason: Equatable {
        case corruptBody
        case inflationLimit
    }

    private let reason: Reason

    /// The upstream's gzip/deflate body did not decode, or zlib refused to work.
    static let corruptBody = HTMLRewriteError(reason: .corruptBody)
    /// The body inflated beyond the ratio allowed (a zip bomb).
    static let inflationLimit = HTMLRewriteError(reason: .inflationLimit)

    var description: String {
        switch reason {
        case .corruptBody: "the compressed HTML body could not be decoded"
        case .inflationLimit: "the compressed HTML body inflated beyond the allowed ratio"
        }
    }
}
