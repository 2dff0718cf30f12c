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

        public init(head: HTTPRequestHead, target: RequestTarget, peer: String?, peerTrusted: Bool, requestID: String, webSocketUpgrade: Bool = false) {
            self.head = head
            self.target = target
            self.peer = peer
            self.peerTrusted = peerTrusted
            self.requestID = requestID
            self.webSocketUpgrade = webSocketUpgrade
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

    /// Headers common to both routes: hop-by-hop removed, `X-Gatehouse-*` dropped,
    /// `X-Forwarded-*` and `X-Request-Id` set, `Expect` answered by Gatehouse itself.
    static func commonHeaders(_ inbound: Inbound) -> HTTPHeaders {
        var headers = inbound.head.headers
        let originalHost = headers.first(name: "host")
        HeaderHygiene.removeHopByHop(&headers)
        HeaderHygiene.removeGatehouseHeaders(&headers)
        HeaderHygiene.setForwarded(&headers, peer: inbound.peer, peerTrusted: inbound.peerTrusted, originalHost: originalHost)
        headers.remove(name: "expect")
        headers.replaceOrAdd(name: "X-Request-Id", value: inbound.requestID)
        if inbound.webSocketUpgrade {
            headers.add(name: "Connection", value: "Upgrade")
            headers.add(name: "Upgrade", value: "websocket")
        }
        return headers
    }

    /// The app route: the client's own `Authorization` and cookies pass, never the owner key.
    public static func appRequest(_ inbound: Inbound, upstream: UpstreamURL) -> HTTPRequestHead {
        let headers = commonHeaders(inbound)
        let uri = inbound.target.uri(withPath: upstream.basePath + inbound.target.path)
        return HTTPRequestHead(version: .http1_1, method: inbound.head.method, uri: uri, headers: headers)
    }

    /// The API route after the gate accepted `user`. `hostHeader`: the API upstream's
    /// `Host` value, when the caller has it built already.
    public static func apiRequest(
        _ inbound: Inbound,
        app: AppConfiguration,
        ownerAuthorization: String,
        extraHeaders: [(String, String)],
        user: String,
        hostHeader: String? = nil
    ) -> HTTPRequestHead {
        var headers = commonHeaders(inbound)
        headers.replaceOrAdd(name: "Authorization", value: ownerAuthorization)
        HeaderHygiene.removeCredentialCookies(&headers)
        headers.replaceOrAdd(name: "Host", value: hostHeader ?? app.api.upstream.hostHeader)
        for (name, value) in extraHeaders where !HeaderHygiene.isGatehouseReserved(name) {
            headers.replaceOrAdd(name: name, value: value)
        }
        headers.add(name: "X-Gatehouse-User", value: user)
        headers.add(name: "X-Gatehouse-Org", value: app.org)
        headers.add(name: "X-Gatehouse-App", value: app.id)
        let path = app.api.stripPrefix ? PathNormalizer.strip(app.api.prefix, from: inbound.target.path) : inbound.target.path
        let uri = inbound.target.uri(withPath: app.api.upstream.basePath + path)
        return HTTPRequestHead(version: .http1_1, method: inbound.head.method, uri: uri, headers: headers)
    }
}
