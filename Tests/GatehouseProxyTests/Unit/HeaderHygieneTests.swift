import GatehouseCore
import NIOCore
import NIOHTTP1
import Testing
@_spi(Benchmarks) @testable import GatehouseProxy

/// Tier 1: header rewriting as pure functions (SPEC "The /_api gate", accepted requests).
@Suite struct HeaderHygieneTests {
    @Test func hopByHopAndConnectionNamedFieldsGo() {
        var headers = HTTPHeaders([
            ("Connection", "keep-alive, X-Secret"), ("Connection", "x-other"), ("X-Secret", "1"), ("X-Other", "2"),
            ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Trailer", "X-T"), ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic x"), ("Proxy-Authenticate", "Basic"), ("Proxy-Connection", "close"),
            ("Content-Length", "5"), ("X-Kept", "yes"),
        ])
        HeaderHygiene.removeHopByHop(&headers)
        #expect(headers.map(\.name) == ["Content-Length", "X-Kept"])
    }

    /// Past the first 64 fields (where positions are noted in a word) the same rules hold.
    @Test func hopByHopFieldsGoWhereverTheyStand() {
        var fields: [(String, String)] = (0..<70).map { ("X-Filler-\($0)", "\($0)") }
        fields += [("Keep-Alive", "timeout=5"), ("Connection", "X-Late, keep-alive"), ("X-Late", "1"), ("TE", "trailers"), ("X-Kept", "yes")]
        fields.insert(("Upgrade", "h2c"), at: 3)
        var headers = HTTPHeaders(fields)
        HeaderHygiene.removeHopByHop(&headers)
        #expect(headers.map(\.name) == (0..<70).map { "X-Filler-\($0)" } + ["X-Kept"])
        var plain = HTTPHeaders([("Content-Type", "text/html"), ("Connection", "Keep-Alive"), ("Content-Length", "3")])
        HeaderHygiene.removeHopByHop(&plain)
        #expect(plain.map(\.name) == ["Content-Type", "Content-Length"])
    }

    /// A response on a client connection that stays open keeps a lone `Connection:
    /// keep-alive` (what Gatehouse would say itself); anything more goes as before.
    @Test func aLoneKeepAliveStaysOnlyWhereItIsTrue() {
        func cleaned(_ fields: [(String, String)], clientKeepsAlive: Bool) -> [String] {
            var headers = HTTPHeaders(fields)
            #expect(HeaderHygiene.cleanResponse(&headers, clientKeepsAlive: clientKeepsAlive))
            return headers.map { "\($0.name): \($0.value)" }
        }
        let plain = [("Content-Type", "application/json"), ("Connection", "keep-alive"), ("Content-Length", "3")]
        #expect(cleaned(plain, clientKeepsAlive: true) == ["Content-Type: application/json", "Connection: keep-alive", "Content-Length: 3"])
        #expect(cleaned(plain, clientKeepsAlive: false) == ["Content-Type: application/json", "Content-Length: 3"])
        #expect(cleaned([("connection", "Keep-Alive")], clientKeepsAlive: true) == ["connection: Keep-Alive"])
        #expect(cleaned([("Connection", "close"), ("X", "1")], clientKeepsAlive: true) == ["X: 1"])
        #expect(cleaned([("Connection", "keep-alive"), ("Keep-Alive", "timeout=5")], clientKeepsAlive: true) == [])
        #expect(cleaned([("Keep-Alive", "timeout=5"), ("Connection", "keep-alive")], clientKeepsAlive: true) == [])
        #expect(cleaned([("Connection", "keep-alive"), ("Connection", "keep-alive")], clientKeepsAlive: true) == [])
        #expect(cleaned([("Connection", "keep-alive, X-Secret"), ("X-Secret", "1"), ("Y", "2")], clientKeepsAlive: true) == ["Y: 2"])
        #expect(cleaned([("Connection", "keep-alive"), ("Upgrade", "h2c")], clientKeepsAlive: true) == [])
        #expect(cleaned([("Y", "2")], clientKeepsAlive: true) == ["Y: 2"])
    }

    /// A response passes only with no transfer coding or a lone `chunked` (any case, any
    /// OWS): the decoder removes the chunking alone, so anything else would reach the
    /// client as content still coded.
    @Test func aResponseTransferCodingPassesOnlyAsALoneChunked() {
        for value in ["chunked", "Chunked", " CHUNKED\t"] {
            var headers = HTTPHeaders([("Content-Type", "text/plain"), ("Transfer-Encoding", value), ("Connection", "keep-alive")])
            #expect(HeaderHygiene.cleanResponse(&headers, clientKeepsAlive: true), "\(value)")
            #expect(HeaderHygiene.cleanResponse(&headers, clientKeepsAlive: false), "\(value)")
        }
        for fields in [[("Transfer-Encoding", "gzip, chunked")], [("Transfer-Encoding", "gzip")], [("transfer-encoding", "chunked, chunked")],
                       [("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")]] {
            var headers = HTTPHeaders([("Content-Type", "text/plain")] + fields)
            #expect(!HeaderHygiene.cleanResponse(&headers), "\(fields)")
        }
        var plain = HTTPHeaders([("Content-Length", "3")])
        #expect(HeaderHygiene.cleanResponse(&plain))
    }

    /// The scan the response decoder makes as fields arrive says "stays as it is" exactly
    /// when the walk would leave the fields untouched, and passes the same codings: a
    /// response it lets skip the walk is one the walk would not have changed.
    @Test func aScanLeavesAloneExactlyWhatTheWalkWould() {
        let cases: [[(String, String)]] = [
            [], [("Server", "nginx"), ("Content-Length", "3")],
            [("Connection", "keep-alive")], [("connection", "Keep-Alive"), ("Content-Length", "3")],
            [("Connection", "close")], [("Connection", "keep-alive, X-Secret"), ("X-Secret", "1")],
            [("Connection", "keep-alive"), ("Connection", "keep-alive")], [("Keep-Alive", "timeout=5"), ("Connection", "keep-alive")],
            [("Connection", "keep-alive"), ("Keep-Alive", "timeout=5")], [("Connection", "keep-alive"), ("Upgrade", "h2c")],
            [("Upgrade", "websocket")], [("TE", "trailers")], [("Trailer", "X-T")], [("Proxy-Connection", "keep-alive")],
            [("Proxy-Authenticate", "Basic")], [("Proxy-Authorization", "Basic x")], [("Connection", "keep-alivex")],
            [("Transfer-Encoding", "chunked"), ("Connection", "keep-alive")], [("Transfer-Encoding", "gzip, chunked")],
            [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], [("transfer-encoding", " Chunked ")],
            [("X-Connection", "close"), ("Connectio", "close"), ("Transfer-Encodings", "gzip")],
        ]
        for fields in cases {
            var scan = HeaderHygiene.HopByHopScan()
            for (name, value) in fields { _ = scan.note(name, value) }
            for keepingKeepAlive in [true, false] {
                var headers = HTTPHeaders(fields)
                let passes = HeaderHygiene.removeHopByHop(&headers, keepingKeepAlive: keepingKeepAlive)
                let untouched = headers.map { "\($0.name): \($0.value)" } == fields.map { "\($0.0): \($0.1)" }
                #expect(scan.codingPasses == passes, "\(fields)")
                if scan.keepsFields(keepingKeepAlive: keepingKeepAlive) { #expect(untouched, "\(fields) \(keepingKeepAlive)") }
                // Both ways for what it tells apart: a hop-by-hop field present is walked.
                if !untouched { #expect(!scan.keepsFields(keepingKeepAlive: keepingKeepAlive), "\(fields) \(keepingKeepAlive)") }
                var again = HTTPHeaders(fields)
                #expect(HeaderHygiene.cleanResponse(&again, clientKeepsAlive: keepingKeepAlive, scanned: scan) == passes)
                #expect(again.map { "\($0.name): \($0.value)" } == headers.map { "\($0.name): \($0.value)" }, "\(fields)")
            }
        }
    }

    @Test func connectionCannotStripFramingOrHost() {
        var headers = HTTPHeaders([("Host", "a"), ("Connection", "content-length, transfer-encoding, host"),
                                   ("Content-Length", "5"), ("Transfer-Encoding", "chunked")])
        HeaderHygiene.removeHopByHop(&headers)
        #expect(headers["host"] == ["a"])
        #expect(headers["content-length"] == ["5"])
        #expect(headers["transfer-encoding"] == ["chunked"])
    }

    @Test func gatehouseReservedInEveryFolding() throws {
        for name in ["X-Gatehouse-User", "x-gatehouse-user", "X_GATEHOUSE_USER", "x.gatehouse.org", "X-Gatehouse_App", "x-gatehouse-", "X.Gatehouse-Anything"] {
            #expect(HeaderHygiene.isGatehouseReserved(name), "\(name)")
        }
        for name in ["X-Gatehouse", "X-Gatehousex-User", "Gatehouse-User", "X-Gate-House-User", "XX-Gatehouse-User", ""] {
            #expect(!HeaderHygiene.isGatehouseReserved(name), "\(name)")
        }
        let out = try Self.upstream([("X-Gatehouse-User", "a"), ("x_gatehouse_user", "b"), ("X.Gatehouse.Org", "c"), ("X-Other", "d")])
        #expect(out.map(\.name).filter { $0.lowercased().contains("gatehouse") }.isEmpty)
        #expect(out["x-other"] == ["d"])
    }

    /// The upstream block for a request with `fields`, as the app route (or, with `api`,
    /// the API route for `user_1`) builds it.
    static func upstream(_ fields: [(String, String)], peerTrusted: Bool = false, api: UpstreamRequestBuilder.APIRewrite? = nil) throws -> HTTPHeaders {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/x", headers: HTTPHeaders(fields))
        let inbound = UpstreamRequestBuilder.Inbound(
            head: head, target: RequestTarget(path: "/x", query: nil), peer: "10.1.2.3", peerTrusted: peerTrusted, requestID: "rid"
        )
        let request = UpstreamRequestBuilder.request(inbound, uri: "/x", api: api, user: "user_1", narrowAcceptEncoding: false, into: ByteBuffer())
        return try request.parsed().headers
    }

    static func rewrite(extra: [HeaderField] = []) throws -> UpstreamRequestBuilder.APIRewrite {
        let upstream = try #require(UpstreamURL(parsing: "http://127.0.0.1:9999"))
        return UpstreamRequestBuilder.APIRewrite(app: AppConfiguration(
            id: "app_1", org: "org_1", upstream: upstream, api: APIConfiguration(upstream: upstream, extraHeaders: extra, ownerKey: Secret("owner"))))
    }

    @Test func forwardedFromUntrustedPeerIsReplaced() throws {
        let headers = try Self.upstream([("Host", "app.test"), ("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "7.7.7.7"),
                                     ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil")])
        #expect(headers["x-forwarded-for"] == ["10.1.2.3"])
        #expect(headers["x-forwarded-proto"] == ["http"])
        #expect(headers["x-forwarded-host"] == ["app.test"])
    }

    @Test func forwardedFromTrustedPeerIsAppended() throws {
        let headers = try Self.upstream([("Host", "app.test"), ("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "7.7.7.7"),
                                     ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "front.test")], peerTrusted: true)
        #expect(headers["x-forwarded-for"] == ["6.6.6.6, 7.7.7.7, 10.1.2.3"])
        #expect(headers["x-forwarded-proto"] == ["https"])
        #expect(headers["x-forwarded-host"] == ["front.test"])

        let bare = try Self.upstream([("Host", "app.test")], peerTrusted: true)
        #expect(bare["x-forwarded-for"] == ["10.1.2.3"])
        #expect(bare["x-forwarded-proto"] == ["http"])
        #expect(bare["x-forwarded-host"] == ["app.test"])
    }

    @Test func credentialCookiesAreRemovedOthersKeptInOrder() throws {
        let api = try Self.rewrite()
        let headers = try Self.upstream([
            ("Cookie", "a=1; __session=tok; __session_x1=t2;b=2"),
            ("Cookie", "__client_uat=17; __client_uat_x1=18; __sessions=keep; c=3"),
        ], api: api)
        #expect(headers["cookie"] == ["a=1; b=2; __sessions=keep; c=3"])

        let onlyCredentials = try Self.upstream([("Cookie", "__session=tok; __client_uat=1")], api: api)
        #expect(!onlyCredentials.contains(name: "cookie"))

        let plain = try Self.upstream([("Cookie", "theme=dark;lang=en"), ("Cookie", "k=v")], api: api)
        #expect(plain["cookie"] == ["theme=dark;lang=en; k=v"])
    }

    /// The byte-wise cookie filter against the `Substring` one it replaced (kept below as
    /// the model): the same output for every value built from pieces that probe each rule
    /// (spaces before and after, empty pieces, no `=`, names that are, begin like, or only
    /// resemble the credential names, a `,` inside a cookie, non-ASCII), one to four pieces
    /// joined by `;` or `; `, appended to an empty and to a non-empty `kept`.
    @Test func credentialCookieFilterMatchesTheTextModel() {
        let pieces = [
            "", " ", "a=1", " b=2 ", "__session=t", " __session=t", "__session", "__session_x1=t", "__session_=t",
            "__sessions=keep", "__sessio=n", "_session=x", "__client_uat=17", "__client_uat_a=1", "__client_uatx=2",
            "__client_ua=3", "__SESSION=upper", "x=__session", "k=v,w", "é=ü", "__x=y", "=v", "__session=a=b",
        ]
        let checked = AppendingDifferential.check(
            pieces: pieces, templates: { a, b in [a, "\(a);\(b)", "\(a); \(b);", "\(b);\(a); \(b);\(a)"] }, starts: ["", "z=0"],
            HeaderHygiene.appendNonCredentialCookies(of:to:), model: Self.referenceCookieFilter(of:to:)
        )
        #expect(checked == pieces.count * pieces.count * 8)
    }

    /// Names are bytes, as the upstream reads them: a combining mark after `__session_`
    /// does not hide the prefix (read as text, `_\u{301}` is one character, not `_`).
    @Test func credentialCookieNamesAreComparedAsBytes() {
        var kept = ""
        HeaderHygiene.appendNonCredentialCookies(of: "__session_\u{301}=t; k=v; __client_uat\u{301}=1", to: &kept)
        #expect(kept == "k=v; __client_uat\u{301}=1")
    }

    /// The filter as it was written over `Substring`s (the model for the test above).
    private static func referenceCookieFilter(of value: String, to kept: inout String) {
        guard zip(value.utf8, value.utf8.dropFirst()).contains(where: { $0 == UInt8(ascii: "_") && $1 == UInt8(ascii: "_") }) else {
            if kept.isEmpty { kept = value } else if !value.isEmpty { kept += "; " + value }
            return
        }
        HeaderHygiene.forEachPiece(of: value, separatedBy: UInt8(ascii: ";")) { piece in
            var pair = piece
            while pair.utf8.first == UInt8(ascii: " ") { pair = pair[pair.utf8.index(after: pair.startIndex)...] }
            if pair.isEmpty { return }
            let name = pair.utf8.firstIndex(of: UInt8(ascii: "=")).map { pair[..<$0] } ?? pair
            if name == "__session" || name.hasPrefix("__session_") || name == "__client_uat" || name.hasPrefix("__client_uat_") { return }
            if !kept.isEmpty { kept += "; " }
            kept += pair
        }
    }

    /// `Connection` may name fields that come before it; a field Gatehouse sets itself
    /// is never lost to one (the owner key, the identity, the forwarded chain).
    @Test func connectionNamedFieldsGoOnRequestsButNotWhatGatehouseSets() throws {
        let headers = try Self.upstream([
            ("Host", "app.test"), ("X-Secret", "1"), ("Cookie", "k=v"), ("X-Forwarded-For", "6.6.6.6"),
            ("Connection", "keep-alive, X-Secret, authorization, x-gatehouse-user, cookie, x-forwarded-for, host, content-length"),
            ("Content-Length", "3"), ("X-Kept", "yes"),
        ], peerTrusted: true, api: try Self.rewrite())
        #expect(!headers.contains(name: "x-secret"))
        #expect(!headers.contains(name: "connection"))
        #expect(!headers.contains(name: "cookie"))
        #expect(headers["authorization"] == ["Bearer owner"])
        #expect(headers["x-gatehouse-user"] == ["user_1"])
        #expect(headers["x-forwarded-for"] == ["10.1.2.3"])
        #expect(headers["x-forwarded-host"] == ["app.test"])
        #expect(headers["content-length"] == ["3"])
        #expect(headers["x-kept"] == ["yes"])
        #expect(headers["host"] == ["127.0.0.1:9999"])
    }

    /// `api.extra_headers` replace what the client sent and what Gatehouse sets under
    /// their name, never the `X-Gatehouse-*` identity.
    @Test func extraHeadersReplaceButNeverTheIdentity() throws {
        let api = try Self.rewrite(extra: [HeaderField(name: "x-namespace", value: "ns_1"), HeaderField(name: "X-Forwarded-Proto", value: "https"),
                                           HeaderField(name: "X-Gatehouse-Org", value: "org_evil")])
        let headers = try Self.upstream([("Host", "app.test"), ("X-Namespace", "client"), ("X-Forwarded-Proto", "ftp")], api: api)
        #expect(headers["x-namespace"] == ["ns_1"])
        #expect(headers["x-forwarded-proto"] == ["https"])
        #expect(headers["x-gatehouse-org"] == ["org_1"])
        #expect(headers.map(\.name).first == "Host")
        #expect(headers["host"] == ["127.0.0.1:9999"])
    }

    /// An `extra_headers` `Authorization` (an upstream keyed another way) is the only one
    /// sent: neither the owner key nor the client's token goes with it. The owner-key line
    /// is built once per configuration, so this is decided there.
    @Test func extraHeadersMayReplaceTheOwnerKey() throws {
        let api = try Self.rewrite(extra: [HeaderField(name: "authorization", value: "Basic dXNlcjpwYXNz")])
        let headers = try Self.upstream([("Host", "app.test"), ("Authorization", "Bearer client")], api: api)
        #expect(headers["authorization"] == ["Basic dXNlcjpwYXNz"])
        let plain = try Self.upstream([("Host", "app.test"), ("Authorization", "Bearer client")], api: try Self.rewrite(extra: []))
        #expect(plain["authorization"] == ["Bearer owner"])
        #expect(plain["x-gatehouse-org"] == ["org_1"])
        #expect(plain["x-gatehouse-app"] == ["app_1"])
    }

    @Test func requestIDTrustsOnlyASanePeerValue() {
        let incoming = HTTPHeaders([("X-Request-Id", "abc-123")])
        #expect(UpstreamRequestBuilder.requestID(incoming, peerTrusted: true, generated: "gen") == "abc-123")
        #expect(UpstreamRequestBuilder.requestID(incoming, peerTrusted: false, generated: "gen") == "gen")
        #expect(UpstreamRequestBuilder.requestID(HTTPHeaders([("X-Request-Id", "a b")]), peerTrusted: true, generated: "gen") == "gen")
        #expect(UpstreamRequestBuilder.requestID(HTTPHeaders([("X-Request-Id", "")]), peerTrusted: true, generated: "gen") == "gen")
        #expect(UpstreamRequestBuilder.requestID(HTTPHeaders([("X-Request-Id", String(repeating: "a", count: 129))]), peerTrusted: true, generated: "gen") == "gen")
        #expect(UpstreamRequestBuilder.requestID(HTTPHeaders(), peerTrusted: true, generated: "gen") == "gen")
    }

    @Test func apiRequestHeadIsRewritten() throws {
        let upstream = try #require(UpstreamURL(parsing: "http://127.0.0.1:9999/base"))
        var app = AppConfiguration(
            id: "app_1", org: "org_1", upstream: upstream,
            api: APIConfiguration(upstream: upstream, extraHeaders: [HeaderField(name: "X-Namespace", value: "ns_1"), HeaderField(name: "X-Gatehouse-User", value: "sneaky")], ownerKey: Secret("owner")))
        app.api.stripPrefix = true
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/_api/v1/x?q=1", headers: HTTPHeaders([
            ("Host", "app.test"), ("Authorization", "Bearer user"), ("Cookie", "__session=t; k=v"), ("X-Gatehouse-User", "evil"),
            ("Expect", "100-continue"), ("Connection", "close"),
        ]))
        let target = try PathNormalizer.normalize(head.uri).get()
        let inbound = UpstreamRequestBuilder.Inbound(head: head, target: target, peer: "1.2.3.4", peerTrusted: false, requestID: "rid")
        let built = UpstreamRequestBuilder.apiRequest(inbound, app: app, rewrite: UpstreamRequestBuilder.APIRewrite(app: app), user: "user_1", into: ByteBuffer())
        let out = try built.parsed()
        #expect(built.uri == "/base/v1/x?q=1")
        #expect(out.uri == "/base/v1/x?q=1")
        #expect(out.method == .POST)
        #expect(out.headers["authorization"] == ["Bearer owner"])
        #expect(out.headers["cookie"] == ["k=v"])
        #expect(out.headers["x-gatehouse-user"] == ["user_1"])
        #expect(out.headers["x-gatehouse-org"] == ["org_1"])
        #expect(out.headers["x-gatehouse-app"] == ["app_1"])
        #expect(out.headers["x-namespace"] == ["ns_1"])
        #expect(out.headers["x-request-id"] == ["rid"])
        #expect(out.headers["host"] == ["127.0.0.1:9999"])
        #expect(out.headers["x-forwarded-host"] == ["app.test"])
        #expect(!out.headers.contains(name: "expect"))
        #expect(!out.headers.contains(name: "connection"))

        let appHead = try UpstreamRequestBuilder.appRequest(inbound, upstream: upstream, narrowAcceptEncoding: false, into: ByteBuffer()).parsed()
        #expect(appHead.uri == "/base/_api/v1/x?q=1")
        #expect(appHead.headers["authorization"] == ["Bearer user"])
        #expect(appHead.headers["cookie"] == ["__session=t; k=v"])
        #expect(!appHead.headers.contains(name: "x-gatehouse-user"))
    }

    /// An upstream head carries `Upgrade` exactly when the proxy says it asked for one
    /// (a WebSocket upgrade passed on, or `extra_headers` naming it on the API route): the
    /// flag the exchange gets instead of walking the head again.
    @Test func upgradeIsInTheUpstreamHeadExactlyWhenFlagged() throws {
        let upstream = try #require(UpstreamURL(parsing: "http://127.0.0.1:9999"))
        let plainRewrite = try Self.rewrite()
        let upgradeRewrite = try Self.rewrite(extra: [HeaderField(name: "UPGRADE", value: "custom")])
        #expect(!plainRewrite.setsUpgrade)
        #expect(upgradeRewrite.setsUpgrade)
        let inbounds: [[(String, String)]] = [
            [("Host", "a")],
            [("Host", "a"), ("Upgrade", "h2c"), ("Connection", "Upgrade")],
            [("Host", "a"), ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "k")],
            [("Host", "a"), ("upgrade", "WebSocket"), ("connection", "keep-alive, upgrade")],
        ]
        for fields in inbounds {
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/_api/x", headers: HTTPHeaders(fields))
            let webSocket = UpstreamRequestBuilder.isWebSocketUpgrade(head)
            let inbound = UpstreamRequestBuilder.Inbound(
                head: head, target: RequestTarget(path: "/_api/x", query: nil), peer: "1.2.3.4", peerTrusted: false, requestID: "rid",
                webSocketUpgrade: webSocket)
            for rewrite in [plainRewrite, upgradeRewrite] {
                let app = AppConfiguration(
                    id: "app_1", org: "org_1", upstream: upstream, api: APIConfiguration(upstream: upstream, ownerKey: Secret("owner")))
                let api = try UpstreamRequestBuilder.apiRequest(inbound, app: app, rewrite: rewrite, user: "u", into: ByteBuffer()).parsed()
                #expect(api.headers.contains(name: "upgrade") == (webSocket || rewrite.setsUpgrade), "\(fields)")
            }
            let appHead = try UpstreamRequestBuilder.appRequest(inbound, upstream: upstream, narrowAcceptEncoding: false, into: ByteBuffer()).parsed()
            #expect(appHead.headers.contains(name: "upgrade") == webSocket, "\(fields)")
        }
    }
}
