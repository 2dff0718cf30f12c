import GatehouseCore
import NIOCore
import NIOHTTP1

/// Builds the request head an upstream receives (SPEC "The /_api gate", accepted
/// requests, and the app route's header hygiene). Pure: tested without a network.
public enum UpstreamRequestBuilder {
    /// Whether the request asks for a WebSocket upgrade (RFC 6455 §4.1: `GET`,
    /// `Upgrade: websocket`, `Connection: upgrade`). Other upgrades (`h2c`…) are never
    /// passed on: a tunnel the gate did not mean to open is a smuggling hole.
    public static func isWebSocketUpgrade(_ head: HTTPRequestHead) -> Bool {
        guard head.method.isGET, head.headers.contains(name: "upgrade") else { return false }
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
        public var requestID: RequestID
        /// A WebSocket upgrade to pass through (SPEC: tunnelled only after the upstream's 101).
        public var webSocketUpgrade: Bool
        /// The body length `head` declares (``RequestHeadValidator/declaredLength(_:)``),
        /// read in the walk that validated it.
        public var declaredLength: Int?
        /// `head`'s fields as `name: value\r\n` lines (``RequestHeadValidator/Inspection/fieldBytes``).
        public var fieldBytes: Int

        public init(
            head: HTTPRequestHead, target: RequestTarget, peer: String?, peerTrusted: Bool, requestID: RequestID, webSocketUpgrade: Bool,
            inspection: borrowing RequestHeadValidator.Inspection
        ) {
            self.head = head
            self.target = target
            self.peer = peer
            self.peerTrusted = peerTrusted
            self.requestID = requestID
            self.webSocketUpgrade = webSocketUpgrade
            self.declaredLength = inspection.declaredLength
            self.fieldBytes = inspection.fieldBytes
        }

        /// Inspecting `head` here.
        public init(head: HTTPRequestHead, target: RequestTarget, peer: String?, peerTrusted: Bool, requestID: RequestID, webSocketUpgrade: Bool = false) {
            self.init(
                head: head, target: target, peer: peer, peerTrusted: peerTrusted, requestID: requestID, webSocketUpgrade: webSocketUpgrade,
                inspection: RequestHeadValidator.inspect(head)
            )
        }
    }

    /// The request id to use: a trusted peer's `X-Request-Id` when it sent a sane one,
    /// else `generated`.
    public static func requestID(_ headers: HTTPHeaders, peerTrusted: Bool, generated: @autoclosure () -> RequestID) -> RequestID {
        if peerTrusted, let incoming = headers.first(name: "x-request-id"),
           !incoming.isEmpty, incoming.utf8.count <= 128,
           incoming.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) {
            return RequestID(incoming)
        }
        return generated()
    }

    /// What the API route sets on top of the common rewrite, built once per app. A class:
    /// the header pass consults it per field, and a struct of six strings and two arrays
    /// was copied (eight retains and releases) each time — 1% of a browser request's CPU.
    public final class APIRewrite: Sendable {
        /// The API upstream's `Host`.
        let host: String
        /// The lowercased names of `api.extra_headers` (without `X-Gatehouse-*` spellings),
        /// for ``String/caseInsensitiveEquals(_:)``: they replace every field of their name,
        /// inbound or set by Gatehouse (but the `X-Gatehouse-*` ones).
        let extraNames: [String]
        /// `extra_headers` names `Upgrade`: every API request carries it.
        let setsUpgrade: Bool
        /// The fields every API request of the app carries as they are, as the bytes the
        /// writer would put, built once per configuration: the `Authorization: Bearer
        /// <owner_key>` line (empty when `extra_headers` sets its own; never logged, see
        /// ``Secret``), the `extra_headers` lines, and the `X-Gatehouse-Org`/`-App` lines.
        /// Written field by field they were ~700 instructions of every request (each
        /// field walked twice: counted, then written).
        let authorizationLine: [UInt8]
        let extraLines: [UInt8]
        let identityLines: [UInt8]

        public init(app: AppConfiguration) {
            host = app.api.upstream.hostHeader
            let extras = app.api.extraHeaders.filter { !HeaderHygiene.isGatehouseReserved($0.name) }.map { ($0.name, $0.value) }
            extraNames = extras.map { $0.0.lowercased() }
            setsUpgrade = extraNames.contains("upgrade")
            authorizationLine = extraNames.contains("authorization") ? [] : Self.lines([("Authorization", "Bearer " + app.api.ownerKey.value)])
            extraLines = Self.lines(extras)
            identityLines = Self.lines([("X-Gatehouse-Org", app.org), ("X-Gatehouse-App", app.id)])
        }

        /// The fields' lines, counted and written by the head serializer's own sinks (one
        /// spelling of a field line for the whole head).
        private static func lines(_ fields: [(String, String)]) -> [UInt8] {
            var count = HTTPHeadSerializer.LineCount()
            for (name, value) in fields { count.field(name, value) }
            return [UInt8](unsafeUninitializedCapacity: count.bytes) { buffer, initialized in
                var writer = HTTPHeadSerializer.Writer(out: UnsafeMutableRawBufferPointer(buffer))
                for (name, value) in fields { writer.field(name, value) }
                initialized = writer.offset
            }
        }

        @inline(__always)
        func overrides(_ name: String) -> Bool {
            // Most apps set no `extra_headers`: asked seven times per request, this was a call each.
            !extraNames.isEmpty && extraNames.contains { name.caseInsensitiveEquals($0) }
        }
    }

    /// The request an upstream receives (SPEC "The /_api gate", accepted requests, and the
    /// app route's header hygiene): hop-by-hop fields and those `Connection` names removed,
    /// `X-Gatehouse-*` dropped, `X-Forwarded-*` and `X-Request-Id` set, `Expect` answered
    /// by Gatehouse itself; with `api`, the owner key, the API upstream's `Host`, credential
    /// cookies dropped, `extra_headers` and the identity fields; with
    /// `narrowAcceptEncoding`, only codings the HTML injector decodes asked for. The body is
    /// framed as NIO's encoder frames a request: none on a TRACE, a `Content-Length` kept,
    /// else chunked when the client's was or the method has a body — `Transfer-Encoding`
    /// written by Gatehouse, never the client's spelling of it.
    ///
    /// One pass over the client's fields classifies each once and writes it, or drops it,
    /// into `head`; what Gatehouse sets is written after (`Host` first). The head was an
    /// `HTTPHeaders` that the encoder framed and wrote: an array of ~11 pairs built, walked
    /// twice, cast through two pipeline hops and destroyed by the runtime's generic code,
    /// ~5,000 instructions of every request.
    static func request(
        _ inbound: borrowing Inbound, uri: String, api: APIRewrite?, user: String, narrowAcceptEncoding: Bool, into head: consuming ByteBuffer
    ) -> UpstreamRequest {
        let method = inbound.head.method
        let headers = inbound.head.headers
        var pass = HeaderPass(api: api, body: UpstreamRequestEncoder.bodyExpectation(method), narrowAcceptEncoding: narrowAcceptEncoding, named: [])
        let host = api.flatMap { $0.overrides("host") ? nil : $0.host }
        // The client's fields are written as they came or not at all: their own size bounds
        // what is kept (merged `Cookie` and `X-Forwarded-For` values are Gatehouse's, below).
        let lead = HTTPHeadSerializer.requestLineByteCount(method, uri: uri) + (host.map { HTTPHeadSerializer.lineByteCount(name: "Host", value: $0) } ?? 0)
        var head = head
        let room = lead + inbound.fieldBytes
        head.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
            var writer = HTTPHeadSerializer.Writer(out: out)
            writer.requestLine(method, uri: uri)
            if let host { writer.field("Host", host) }
            let mark = writer.offset
            pass.walk(headers, trusted: inbound.peerTrusted, into: &writer)
            if pass.connectionNamesFields {
                // Rare: `Connection` lists fields to drop, which may come before it. Again, knowing them.
                var named: [String] = []
                for (name, value) in headers where name.caseInsensitiveEquals("connection") {
                    HeaderHygiene.forEachConnectionToken(value) { if !HeaderHygiene.isProtectedFromConnection($0) { named.append($0.lowercased()) } }
                }
                writer.offset = mark
                pass = HeaderPass(api: api, body: pass.body, narrowAcceptEncoding: narrowAcceptEncoding, named: named)
                pass.walk(headers, trusted: inbound.peerTrusted, into: &writer)
            }
            // The writer traps before writing past the buffer (which rounds the room up);
            // a bound counted wrong shows here, in the tests' debug builds.
            assert(writer.offset <= room, "upstream head larger than the room sized for it")
            return writer.offset
        }
        // What Gatehouse sets: one description, counted, then written into the size counted.
        let forwardedFor = pass.forwardedFor.isEmpty ? inbound.peer ?? "unknown" : pass.forwardedFor + ", " + (inbound.peer ?? "unknown")
        // The walk is over: moved into a constant, which the closure below borrows (a
        // variable the closure only reads is captured by copy: six retains and releases).
        let framing = pass.framing
        let walked = consume pass
        var count = HTTPHeadSerializer.LineCount()
        walked.finish(inbound, forwardedFor: forwardedFor, user: user, into: &count)
        head.writeWithUnsafeMutableBytes(minimumWritableBytes: count.bytes) { out in
            var writer = HTTPHeadSerializer.Writer(out: out)
            walked.finish(inbound, forwardedFor: forwardedFor, user: user, into: &writer)
            assert(writer.offset == count.bytes, "Gatehouse's fields not the size counted")
            return writer.offset
        }
        return UpstreamRequest(head: head, framing: framing, uri: uri, method: inbound.head.method)
    }

    /// The client's fields as the upstream may see them, and what they said that the
    /// fields Gatehouse sets depend on.
    private struct HeaderPass {
        let api: APIRewrite?
        let body: HTTPBodyFraming.BodyExpectation
        let narrowAcceptEncoding: Bool
        /// Lowercased field names the client's `Connection` lists (dropped).
        let named: [String]
        var originalHost: String?
        /// A trusted peer's `X-Forwarded-For` chain, joined.
        var forwardedFor = ""
        var keptForwardedProto = false
        var keptForwardedHost = false
        var connectionNamesFields = false
        /// The API route's `Cookie` fields, merged, credential cookies dropped.
        var cookies = ""
        /// A `Content-Length` was kept: it frames the body.
        var hasLength = false
        /// The client's body was chunked (its `Transfer-Encoding`, a single `chunked` in
        /// some spelling: ``RequestHeadValidator``).
        var hasTransferEncoding = false
        var sawAcceptEncoding = false
        /// The codings kept of the client's `Accept-Encoding` fields, joined.
        var acceptEncoding = ""

        init(api: APIRewrite?, body: HTTPBodyFraming.BodyExpectation, narrowAcceptEncoding: Bool, named: [String]) {
            self.api = api
            self.body = body
            self.narrowAcceptEncoding = narrowAcceptEncoding
            self.named = named
        }

        /// NIO's request framing (``HTTPBodyFraming/frame(_:version:body:)``) over what
        /// the walk found: the upstream head is always HTTP/1.1.
        var framing: HTTPBodyFraming {
            if body == .no { return .neither }
            if hasLength { return .contentLength }
            return hasTransferEncoding || body == .yes ? .chunked : .neither
        }

        mutating func walk(_ headers: HTTPHeaders, trusted: Bool, into writer: inout HTTPHeadSerializer.Writer) {
            for (name, value) in headers {
                let field = HeaderHygiene.RequestField.classify(name)
                switch field {
                case .hopByHop(let index):
                    if index == 0, !connectionNamesFields { connectionNamesFields = HeaderHygiene.connectionNamesFields(value) }
                    continue
                case .gatehouseReserved, .expect, .requestID:
                    continue
                case .transferEncoding:
                    // Framing is Gatehouse's: a chunked body goes chunked under a field of its own.
                    hasTransferEncoding = true
                    continue
                case .host:
                    if originalHost == nil { originalHost = value }
                default:
                    break
                }
                if !named.isEmpty, named.contains(where: { name.caseInsensitiveEquals($0) }) { continue }
                // Chained, not bound: binding `api` copies it (a retain and a release per field).
                if api?.overrides(name) == true { continue }
                switch field {
                case .contentLength:
                    if body == .no { continue }
                    hasLength = true
                case .host, .authorization:
                    if api != nil { continue }
                case .cookie:
                    if api != nil {
                        HeaderHygiene.appendNonCredentialCookies(of: value, to: &cookies)
                        continue
                    }
                case .acceptEncoding:
                    if narrowAcceptEncoding {
                        sawAcceptEncoding = true
                        HTMLResponseRewriter.appendAcceptedCodings(of: value, to: &acceptEncoding)
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
                writer.field(name, value)
            }
        }

        /// The fields Gatehouse sets, and the blank line, into `sink` (counted, then written).
        func finish<Sink: HeaderFieldSink>(_ inbound: borrowing Inbound, forwardedFor: String, user: String, into sink: inout Sink) {
            set("X-Forwarded-For", forwardedFor, &sink)
            if !keptForwardedProto { set("X-Forwarded-Proto", "http", &sink) }
            if !keptForwardedHost, let originalHost { set("X-Forwarded-Host", originalHost, &sink) }
            if api?.overrides("X-Request-Id") != true { sink.field("X-Request-Id", inbound.requestID) }
            if inbound.webSocketUpgrade {
                set("Connection", "Upgrade", &sink)
                set("Upgrade", "websocket", &sink)
            }
            if let api {
                sink.lines(api.authorizationLine)
                if !cookies.isEmpty { set("Cookie", cookies, &sink) }
                sink.lines(api.extraLines)
                sink.field("X-Gatehouse-User", user)
                sink.lines(api.identityLines)
            }
            if sawAcceptEncoding { sink.field("Accept-Encoding", acceptEncoding.isEmpty ? "identity" : acceptEncoding) }
            // Spelled as NIO's encoder adds it (the bytes stay the same as before the builder wrote them).
            if framing == .chunked { sink.field("transfer-encoding", "chunked") }
            sink.end()
        }

        /// A field Gatehouse sets, unless the route's `extra_headers` set it.
        private func set<Sink: HeaderFieldSink>(_ name: String, _ value: String, _ sink: inout Sink) {
            if api?.overrides(name) == true { return }
            sink.field(name, value)
        }
    }

    /// The app route: the client's own `Authorization` and cookies pass, never the owner key.
    static func appRequest(_ inbound: borrowing Inbound, upstream: UpstreamURL, narrowAcceptEncoding: Bool, into head: consuming ByteBuffer) -> UpstreamRequest {
        let uri = inbound.target.uri(basePath: upstream.basePath, path: Substring(inbound.target.path))
        return request(inbound, uri: uri, api: nil, user: "", narrowAcceptEncoding: narrowAcceptEncoding, into: head)
    }

    /// The API route after the gate accepted `user`.
    @_spi(Benchmarks) public static func apiRequest(
        _ inbound: borrowing Inbound, app: AppConfiguration, rewrite: APIRewrite, user: String, into head: consuming ByteBuffer
    ) -> UpstreamRequest {
        let path = app.api.stripPrefix ? PathNormalizer.strip(app.api.prefix, from: inbound.target.path) : Substring(inbound.target.path)
        let uri = inbound.target.uri(basePath: app.api.upstream.basePath, path: path)
        return request(inbound, uri: uri, api: rewrite, user: user, narrowAcceptEncoding: false, into: head)
    }
}
