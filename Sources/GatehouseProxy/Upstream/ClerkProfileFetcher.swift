import GatehouseCore
import GatehouseUsers
import NIOCore
import NIOHTTP1

/// Fills profile fields a Clerk session token does not carry from Clerk's Backend API,
/// `GET {clerk_api_url}/v1/users/{id}` with `Authorization: Bearer <secret_key>` (SPEC
/// "Auth endpoints": clerk mode with a `secret_key`).
///
/// Non-blocking: the NIO ``HTTPFetcher`` on the caller's event loop, bounded in time and
/// size. Any failure (status, timeout, body) yields `nil`, never an error the request
/// sees; the user is still recorded with what the claims had. The secret key is never
/// logged or put in an error.
public struct ClerkProfileFetcher: Sendable {
    private let endpoint: UpstreamEndpoint
    private let authorization: String
    private let fetcher: HTTPFetcher

    public struct ConfigurationError: Error, CustomStringConvertible {
        public let description: String
    }

    /// - Parameters:
    ///   - apiURL: `auth.clerk_api_url`, e.g. `https://api.clerk.com`.
    ///   - secretKey: `auth.secret_key`.
    public init(apiURL: String, secretKey: String, timeout: TimeAmount = .seconds(3)) throws {
        guard let url = UpstreamURL(parsing: apiURL) else {
            throw ConfigurationError(description: "auth.clerk_api_url: not an http(s) URL")
        }
        self.endpoint = try UpstreamEndpoint(url: url)
        self.authorization = "Bearer " + secretKey
        self.fetcher = HTTPFetcher(maxBodyBytes: 256 * 1024, timeout: timeout)
    }

    /// The user's profile per Clerk, or `nil`.
    public func lookup(_ userID: String, on eventLoop: EventLoop) -> EventLoopFuture<UserProfile?> {
        var headers = HTTPHeaders()
        headers.add(name: "Authorization", value: authorization)
        return fetcher.get(endpoint, path: "/v1/users/" + Self.escape(userID), headers: headers, on: eventLoop)
            .map { response -> UserProfile? in
                guard response.status == .ok else { return nil }
                return ClerkUserJSON.profile(from: response.body.readableBytesView)
            }
            .recover { _ in nil }
    }

    /// As a ``ProfileLookup`` for ``AppUsers``.
    public var profileLookup: ProfileLookup {
        let fetcher = self
        return { id, eventLoop in fetcher.lookup(id, on: eventLoop) }
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters (a `sub` is opaque).
    static func escape(_ id: String) -> String {
        var out = ""
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
