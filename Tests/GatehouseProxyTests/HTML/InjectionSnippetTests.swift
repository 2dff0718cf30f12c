import Foundation
import GatehouseCore
@_spi(Benchmarks) @testable import GatehouseProxy
import NIOCore
import NIOHTTP1
import Testing

/// Tier 1: what the snippet says, how it is escaped, and how a CSP gets its nonce.
@Suite struct InjectionSnippetTests {
    static func app(mode: AuthConfiguration.Mode = .dev, id: String = "app_1", configure: (inout AuthConfiguration) -> Void = { _ in }) -> AppConfiguration {
        var auth = AuthConfiguration()
        auth.mode = mode
        configure(&auth)
        return AppConfiguration(
            id: id, org: "org_1", upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: 1),
            api: APIConfiguration(upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: 2), ownerKey: Secret("sk_owner_never_shown")),
            auth: auth
        )
    }

    static func decode(_ json: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    static let publishableKey = "pk_test_" + Data("clerk.example.com$".utf8).base64EncodedString()

    @Test func clerkModeNamesTheFrontendAPIAndClerkJSButNoSecret() throws {
        let app = Self.app(mode: .clerk) {
            $0.publishableKey = Self.publishableKey
            $0.secretKey = Secret("sk_live_clerk_secret")
            $0.allowedProviders = ["google", "github"]
        }
        let json = InjectionSnippet(app: app).configJSON
        let config = try Self.decode(json)
        #expect(config["appId"] as? String == "app_1")
        let auth = try #require(config["auth"] as? [String: Any])
        #expect(auth["mode"] as? String == "clerk")
        #expect(auth["publishableKey"] as? String == Self.publishableKey)
        #expect(auth["frontendApi"] as? String == "clerk.example.com")
        #expect(auth["clerkJSURL"] as? String == "https://clerk.example.com/npm/@clerk/clerk-js@6/dist/clerk.browser.js")
        #expect(auth["clerkUIURL"] as? String == "https://clerk.example.com/npm/@clerk/ui@1/dist/ui.browser.js")
        #expect(auth["allowedProviders"] as? [String] == ["google", "github"])
        #expect(!json.contains("sk_live_clerk_secret"))
        #expect(!json.contains("sk_owner_never_shown"))

        let overridden = Self.app(mode: .clerk) {
            $0.publishableKey = Self.publishableKey
            $0.clerkJSURL = "http://127.0.0.1:9/clerk.js"
        }
        let auth2 = try #require(try Self.decode(InjectionSnippet(app: overridden).configJSON)["auth"] as? [String: Any])
        #expect(auth2["clerkJSURL"] as? String == "http://127.0.0.1:9/clerk.js")
        #expect(auth2["clerkUIURL"] == nil)
    }

    @Test func otherModesCarryNoClerkFields() throws {
        let app = Self.app(mode: .dev) { $0.publishableKey = Self.publishableKey }
        let auth = try #require(try Self.decode(InjectionSnippet(app: app).configJSON)["auth"] as? [String: Any])
        #expect(auth["mode"] as? String == "dev")
        #expect(auth["publishableKey"] == nil)
        #expect(auth["frontendApi"] == nil)
        #expect(auth["clerkJSURL"] == nil)
    }

    @Test func noConfigValueCanEndTheScript() throws {
        let hostile = "</script><script>alert(1)</script>"
        let app = Self.app(id: hostile + "\u{2028}") {
            $0.allowedProviders = ["a\u{2029}b", "x&y<!--", "\"quoted\"\\", "tab\tnul\u{0}"]
        }
        let snippet = InjectionSnippet(app: app)
        let json = snippet.configJSON
        for forbidden in ["<", ">", "&", "\u{2028}", "\u{2029}", "\u{0}"] {
            #expect(!json.contains(forbidden), "\(forbidden.unicodeScalars.first!.value) is raw in \(json)")
        }
        #expect(json.contains(#"\u003c/script\u003e"#))
        #expect(json.contains(#"\u2028"#) && json.contains(#"\u2029"#))
        // Still valid JSON that decodes to the original values.
        let config = try Self.decode(json)
        #expect(config["appId"] as? String == hostile + "\u{2028}")
        let auth = try #require(config["auth"] as? [String: Any])
        #expect(auth["allowedProviders"] as? [String] == ["a\u{2029}b", "x&y<!--", "\"quoted\"\\", "tab\tnul\u{0}"])
        // The tags close exactly where they should.
        let tags = snippet.tags(nonce: nil)
        #expect(tags.components(separatedBy: "</script>").count == 3)
        #expect(tags.hasPrefix("<script data-gatehouse>window.__MIXPEEK__={"))
        #expect(tags.hasSuffix("</script><script data-gatehouse src=\"/_auth/sdk.js\"></script>"))
    }

    @Test func nonceGoesOnBothTags() {
        let tags = InjectionSnippet(app: Self.app()).tags(nonce: "n0nce")
        #expect(tags.hasPrefix("<script data-gatehouse nonce=\"n0nce\">window.__MIXPEEK__="))
        #expect(tags.hasSuffix("<script data-gatehouse nonce=\"n0nce\" src=\"/_auth/sdk.js\"></script>"))
    }

    @Test(arguments: [
        ("script-src 'self'", "script-src 'self' 'nonce-N'"),
        ("default-src 'self'; script-src 'self' https://cdn.example; img-src *",
         "default-src 'self'; script-src 'self' https://cdn.example 'nonce-N'; img-src *"),
        ("default-src 'self' https:", "default-src 'self' https:; script-src 'self' https: 'nonce-N'"),
        ("script-src-elem 'self'; SCRIPT-SRC 'none'", "script-src-elem 'self' 'nonce-N'; SCRIPT-SRC 'none' 'nonce-N'"),
        ("script-src 'self', default-src 'none'", "script-src 'self' 'nonce-N', default-src 'none'; script-src 'none' 'nonce-N'"),
        ("script-src 'unsafe-inline' 'nonce-old'", "script-src 'unsafe-inline' 'nonce-old' 'nonce-N'"),
    ])
    func policyGetsTheNonce(policy: String, expected: String) {
        #expect(ContentSecurityPolicyNonce.adding("N", to: policy) == expected)
    }

    @Test(arguments: ["img-src *; style-src 'self'", "script-src 'self' 'unsafe-inline'", "frame-ancestors 'none'"])
    func policiesThatDoNotBlockTheSnippetAreUntouched(policy: String) {
        #expect(ContentSecurityPolicyNonce.adding("N", to: policy) == nil)
    }

    @Test func noncesAre128RandomBits() {
        let pool = RandomBytePool()
        let a = ContentSecurityPolicyNonce.make(from: pool)
        let b = ContentSecurityPolicyNonce.make(from: pool)
        #expect(a != b)
        #expect(a.utf8.count == 22)
        #expect(a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }

    @Test(arguments: [
        ("br, gzip", "gzip"),
        ("gzip;q=1.0, deflate;q=0.5, br;q=0.9, zstd", "gzip;q=1.0, deflate;q=0.5"),
        ("br", "identity"),
        ("*", "identity"),
        ("identity, GZIP", "identity, GZIP"),
    ])
    func acceptEncodingIsNarrowed(sent: String, expected: String) throws {
        let headers = try Self.appUpstreamHeaders([("Host", "a"), ("Accept-Encoding", sent)], narrow: true)
        #expect(headers[canonicalForm: "accept-encoding"].map(String.init) == expected.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        // Split over two fields: one field, the codings kept in order.
        let halves = sent.split(separator: ",", maxSplits: 1).map(String.init)
        let split = try Self.appUpstreamHeaders([("Host", "a")] + halves.map { ("Accept-Encoding", $0) }, narrow: true)
        #expect(split["accept-encoding"] == [expected])
        #expect(try Self.appUpstreamHeaders([("Host", "a")], narrow: true)["accept-encoding"].isEmpty)
        // Not narrowed where nothing is injected.
        #expect(try Self.appUpstreamHeaders([("Host", "a"), ("Accept-Encoding", sent)], narrow: false)["accept-encoding"] == [sent])
    }

    /// The app upstream's head for a GET with `fields`, as its server parses it.
    static func appUpstreamHeaders(_ fields: [(String, String)], narrow: Bool) throws -> HTTPHeaders {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: HTTPHeaders(fields))
        let inbound = UpstreamRequestBuilder.Inbound(head: head, target: RequestTarget(path: "/", query: nil), peer: "1.2.3.4", peerTrusted: false, requestID: "r")
        let upstream = try #require(UpstreamURL(parsing: "http://127.0.0.1:9"))
        return try UpstreamRequestBuilder.appRequest(inbound, upstream: upstream, narrowAcceptEncoding: narrow, into: ByteBuffer()).parsed().headers
    }
}
