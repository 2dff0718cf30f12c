import GatehouseCore
import NIOHTTP1

/// Builds the request head an upstream receives (SPEC "The /_api gate", accepted
/// requests, and the app route's header hygiene). Pure: tested without a network.
public enum UpstreamRequestBuilder {
    /// Whether the request asks for a WebSocket upgrade (RFC 6455 §4.1: `GET`,
    /// `Upgrade: websocket`, `Connection: upgrade`). Other upgrades (`h2c`…) are never
    /// passed on: a tunnel the gate did not mean to open is a smuggling hole.
    public static func isWebSocketUpgrade(_ head: HTTPRequestHead) -> Bool {
        guard head.method == .GET, head.headers.contains(name: "upgrade") else { return false }
        let upgrade = head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
        let connection = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        return upgrade && connection
    }

    /// Facts about the inbound request the rewrite depends on.
    public struct Inbound {
        public var head: HTTPRequestHead
        public var target: RequestTarget
        public var peer: String?
        public var peerTrusted: Bool
        public var requestID: String
        /// A WebSocket upgrade to pass through (SPEC: tunnelled only after the upstream's 101).
        public var webSocketUpgrade: Bool
        /// The body length `head` declares (``RequestHeadValidator/declaredLength(_:)``),
        /// read in the walk that validated it.
        public var declaredLength: Int?

        public init(
            head: HTTPRequestHead, target: RequestTarget, peer: String?, peerTrusted: Bool, requestID: String, webSocketUpgrade: Bool,
            declaredLength: Int?
        ) {
            self.head = head
            self.target = target
            self.peer = peer
            self.peerTrusted = peerTrusted
            self.requestID = requestID
            self.webSocketUpgrade = webSocketUpgrade
            self.declaredLength = declaredLength
        }

        /// The declared length read from `head`.
        public init(head: HTTPRequestHead, target: RequestTarget, peer: String?, peerTrusted: Bool, requestID: String, webSocketUpgrade: Bool = false) {
            self.init(
                head: head, target: target, peer: peer, peerTrusted: peerTrusted, requestID: requestID, webSocketUpgrade: webSocketUpgrade,
                declaredLength: RequestHeadValidator.declaredLength(head)
            )
        }
    }

    /// The request id to use: a trusted peer's `X-Request-Id` when it sent a sane one,
    /// else `generated`.
    public static func requestID(_ headers: HTTPHeaders, peerTrusted: Bool, generated: @autoclosure () -> String) -> String {
        if peerTrusted, let incoming = headers.first(name: "x-request-id"),
           !incoming.isEmpty, incoming.utf8.count <= 128,
           incoming.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) {
            return incoming
        }
        return generated()
    }

    /// What the API route sets on top of the common rewrite, built once per app. A class:
    /// the header pass consults it per field, and a struct of six strings and two arrays
    /// was copied (eight retains and releases) each time — 1% of a browser request's CPU.
    public final class APIRewrite: Sendable {
        /// `Bearer <owner_key>`; never logged (see ``Secret``).
        let authorization: String
        let host: String
        let org: String
        let app: String
        /// `api.extra_headers` without `X-Gatehouse-*` spellings: they replace every field
        /// of their name, inbound or set by Gatehouse (but the `X-Gatehouse-*` ones).
        let extras: [(String, String)]
        /// The same names lowercased, for ``String/caseInsensitiveEquals(_:)``.
        let extraNames: [String]
        /// `extra_headers` names `Upgrade`: every API request carries it.
        let setsUpgrade: Bool

        public init(app: AppConfiguration) {
            authorization = "Bearer " + app.api.ownerKey.value
            host = app.api.upstream.hostHeader
            org = app.org
            self.app = app.id
            extras = app.api.extraHeaders.filter { !HeaderHygiene.isGatehouseReserved($0.name) }.map { ($0.name, $0.value) }
            extraNames = extras.map { $0.0.lowercased() }
            setsUpgrade = extraNames.contains("upgrade")
        }

        func overrides(_ name: String) -> Bool {
            extraNames.contains { name.caseInsensitiveEquals($0) }
        }
    }

    /// The upstream's header block (SPEC "The /_api gate", accepted requests, and the app
    /// route's header hygiene): hop-by-hop fields and those `Connection` names removed,
    /// `X-Gatehouse-*` dropped, `X-Forwarded-*` and `X-Request-Id` set, `Expect` answered
    /// by Gatehouse itself; with `api`, the owner key, the API upstream's `Host`, credential
    /// cookies dropped, `extra_headers` and the identity fields.
    ///
    /// One pass over the client's fields classifies each once and copies or drops it; what
    /// Gatehouse sets is appended after (`Host` first). Editing the block with `remove` and
    /// `replaceOrAdd` scanned it ~15 times: 4.4 µs for a browser's 13 fields.
    static func upstreamHeaders(_ inbound: Inbound, api: APIRewrite?, user: String = "") -> HTTPHeaders {
        var pass = HeaderPass(inbound: inbound, api: api, named: [])
        if pass.connectionNamesFields {
            // Rare: `Connection` lists fields to drop, which may come before it. Again, knowing them.
            var named: [String] = []
            for (name, value) in inbound.head.headers where name.caseInsensitiveEquals("connection") {
                HeaderHygiene.forEachConnectionToken(value) { if !HeaderHygiene.isProtectedFromConnection($0) { named.append($0.lowercased()) } }
            }
            pass = HeaderPass(inbound: inbound, api: api, named: named)
        }
        return pass.finish(inbound, api: api, user: user)
    }

    /// The client's fields as the upstream may see them, and what they said that the
    /// fields Gatehouse sets depend on.
    private struct HeaderPass {
        /// Built as a plain array: `HTTPHeaders.add` re-checks every name for ASCII and
        /// `Connection`, which the parser (client fields) and the configuration
        /// (`extra_headers`) have already ensured.
        var out: [(String, String)] = []
        var originalHost: String?
        /// A trusted peer's `X-Forwarded-For` chain, joined.
        var forwardedFor = ""
        var keptForwardedProto = false
        var keptForwardedHost = false
        var connectionNamesFields = false
        /// The API route's `Cookie` fields, merged, credential cookies dropped.
        var cookies = ""

        /// `borrowing`: an initializer takes its arguments owned, so each pass copied the
        /// whole `Inbound` (every string and array in it retained, then released).
        init(inbound: borrowing Inbound, api: APIRewrite?, named: [String]) {
            let source = inbound.head.headers
            let trusted = inbound.peerTrusted
            out.reserveCapacity(source.count + 10)
            if let api, !api.overrides("host") { out.append(("Host", api.host)) }
            for (name, value) in source {
                let field = HeaderHygiene.RequestField.classify(name)
                switch field {
                case .hopByHop(let index):
                    if index == 0, !connectionNamesFields { connectionNamesFields = HeaderHygiene.connectionNamesFields(value) }
                    continue
                case .gatehouseReserved, .expect, .requestID:
                    continue
                case .host:
                    if originalHost == nil { originalHost = value }
                default:
                    break
                }
                if !named.isEmpty, named.contains(where: { name.caseInsensitiveEquals($0) }) { continue }
                if let api, api.overrides(name) { continue }
                switch field {
                case .host, .authorization:
                    if api != nil { continue }
                case .cookie:
                    if api != nil {
                        HeaderHygiene.appendNonCredentialCookies(of: value, to: &cookies)
                        continue
                    }
                case .forwardedFor:
                    if trusted { forwardedFor = forwardedFor.isEmpty ? value : forwardedFor + ", " + value }
                    continue
                case .forwardedProto:
                    guard trusted else { continue }
                    keptForwardedProto = true
                case .forwardedHost:
                    guard trusted else { continue }
                    keptForwardedHost = true
                default:
                    break
                }
                out.append((name, value))
            }
        }

        consuming func finish(_ inbound: Inbound, api: APIRewrite?, user: String) -> HTTPHeaders {
            let peer = inbound.peer ?? "unknown"
            set("X-Forwarded-For", forwardedFor.isEmpty ? peer : forwardedFor + ", " + peer, api: api)
            if !keptForwardedProto { set("X-Forwarded-Proto", "http", api: api) }
            if !keptForwardedHost, let originalHost { set("X-Forwarded-Host", originalHost, api: api) }
            set("X-Request-Id", inbound.requestID, api: api)
            if inbound.webSocketUpgrade {
                set("Connection", "Upgrade", api: api)
                set("Upgrade", "websocket", api: api)
            }
            if let api {
                set("Authorization", api.authorization, api: api)
                if !cookies.isEmpty { set("Cookie", cookies, api: api) }
                out.append(contentsOf: api.extras)
                out.append(("X-Gatehouse-User", user))
                out.append(("X-Gatehouse-Org", api.org))
                out.append(("X-Gatehouse-App", api.app))
            }
            return HTTPHeaders(out)
        }

        /// A field Gatehouse sets, unless the route's `extra_headers` set it. A method, not a
        /// local function: one capturing `out` boxed it and checked every access at run time.
        private mutating func set(_ name: String, _ value: String, api: APIRewrite?) {
            if let api, api.overrides(name) { return }
            out.append((name, value))
        }
    }

    /// The app route: the client's own `Authorization` and cookies pass, never the owner key.
    public static func appRequest(_ inbound: Inbound, upstream: UpstreamURL) -> HTTPRequestHead {
        let headers = upstreamHeaders(inbound, api: nil)
        let uri = inbound.target.uri(basePath: upstream.basePath, path: Substring(inbound.target.path))
        return HTTPRequestHead(version: .http1_1, method: inbound.head.method, uri: uri, headers: headers)
    }

    /// The API route after the gate accepted `user`.
    public static func apiRequest(_ inbound: Inbound, app: AppConfiguration, rewrite: APIRewrite, user: String) -> HTTPRequestHead {
        let headers = upstreamHeaders(inbound, api: rewrite, user: user)
        let path = app.api.stripPrefix ? PathNormalizer.strip(app.api.prefix, from: inbound.target.path) : Substring(inbound.target.path)
        let uri = inbound.target.uri(basePath: app.api.upstream.basePath, path: path)
        return HTTPRequestHead(version: .http1_1, method: inbound.head.method, uri: uri, headers: headers)
    }
}
