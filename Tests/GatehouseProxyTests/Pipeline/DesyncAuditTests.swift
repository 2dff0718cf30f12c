import Foundation
import GatehouseCore
import GatehouseTesting
import Testing

/// Request smuggling and response desync, probed over real sockets (SPEC "Routing",
/// framing; "The /_api gate"). Every test states one attack; each holds Gatehouse to:
/// whatever reaches an upstream and whatever reaches a client is exactly one well-framed
/// message per request; nothing reaches the API upstream but what passed the gate (and then
/// with the owner key); no byte of one exchange reaches another. Request-side attacks run
/// against ``GateRig``'s recording upstreams; hostile upstreams are ``RawUpstream``s that
/// write bytes exactly as scripted.
@Suite struct DesyncAuditTests {
    /// A request that must never reach any upstream as a request of its own.
    static let hidden = "GET /_api/smuggled HTTP/1.1\r\nHost: g.test\r\n\r\n"

    static func chunked(_ body: String) -> String {
        String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n"
    }

    static func noneSmuggled(_ rig: GateRig) -> Bool {
        !(rig.api.requests + rig.app.requests).contains { $0.path.hasSuffix("/smuggled") }
    }

    // MARK: - Request side: framing fields

    /// White space around a `Transfer-Encoding` value (tab, several spaces, vertical tab)
    /// and list punctuation. A sidecar that trims differently from the server behind it
    /// would see no chunked body where the server sees one (or the reverse), and the hidden
    /// request in the body would be the upstream's next request. Each spelling must be a
    /// 400 with nothing forwarded, or forwarded as the one body it is.
    @Test(arguments: ["\tchunked", "chunked\t", "   chunked   ", "\tChunked ", "\u{0B}chunked", "chunked\u{0B}", ",chunked", "chunked,", "chunked;q=1", "chunked\u{0C}"])
    func owsAroundTransferEncodingIsOneBodyOr400(value: String) async throws {
        let rig = try await GateRig.start()
        let body = "0\r\n\r\n" + Self.hidden
        for method in ["GET", "POST"] {
            let connection = try await rig.gatehouse.raw(
                "\(method) /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nTransfer-Encoding:\(value)\r\n\r\n\(Self.chunked(body))")
            let response = try await connection.readResponse()
            if response.status == 400 {
                #expect(await connection.waitForClose())
            } else {
                #expect(response.status == 200)
            }
            await connection.close()
        }
        #expect(Self.noneSmuggled(rig))
        for request in rig.api.requests { #expect(request.body == Array(body.utf8)) }
        await rig.stop()
    }

    /// `Content-Length` with leading zeros or white space around it. `0005` is five (RFC
    /// 9110 §8.6: 1*DIGIT); a proxy reading it as anything else, or forwarding a spelling
    /// the upstream reads differently, splits the stream differently from the upstream.
    /// The body must arrive as exactly those bytes, and the request after it as the next
    /// request (or the whole is a 400 and closes).
    @Test(arguments: ["0005", "\t5", "5\t", "  5  ", "00000000000000005"])
    func contentLengthSpellingsFrameOneBody(value: String) async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        let connection = try await rig.gatehouse.raw(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nContent-Length:\(value)\r\n\r\nhello"
                + "GET /_api/after HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        let first = try await connection.readResponse()
        if first.status == 400 {
            #expect(await connection.waitForClose())
            #expect(rig.api.requests.isEmpty)
        } else {
            #expect(first.status == 200)
            #expect(try await connection.readResponse().text == #"{"api":"/after"}"#)
            #expect(rig.api.requests.map(\.path) == ["/x", "/after"])
            #expect(rig.api.requests.first?.body == Array("hello".utf8))
            // What the upstream was told is what it got.
            #expect(rig.api.requests.first?.values("Content-Length").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } == [5])
        }
        await connection.close()
        await rig.stop()
    }

    /// A `Content-Length` too large for the gate's limit, or for a 64-bit integer. An
    /// overflow read as a small or negative number would let the "body" end early and its
    /// rest be a request; a huge body must never be streamed to the API.
    @Test func hugeContentLengthIsRefusedAndCloses() async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        for (length, status) in [("999999999999999999", 413), ("18446744073709551621", 400), ("99999999999999999999999", 400)] {
            for target in ["/_api/x", "/page"] where status == 400 || target == "/_api/x" {
                let connection = try await rig.gatehouse.raw(
                    "POST \(target) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nContent-Length: \(length)\r\n\r\n\(Self.hidden)")
                let response = try await connection.readResponse()
                #expect(response.status == status, "\(length) to \(target)")
                let rest = try await connection.readUntilClose()
                #expect(rest.isEmpty)
                await connection.close()
            }
        }
        #expect(rig.api.requests.isEmpty)
        #expect(rig.app.requests.isEmpty)
        await rig.stop()
    }

    /// A `Content-Length` body on a method that usually has none (GET, HEAD, DELETE,
    /// OPTIONS). NIO's encoders only frame such a body when the head declares it; sent
    /// without its `Content-Length`, the body — here a request — would be the upstream's
    /// next request, past the gate.
    @Test(arguments: ["GET", "HEAD", "DELETE", "OPTIONS"])
    func contentLengthBodyOnABodilessMethodStaysOneBody(method: String) async throws {
        let rig = try await GateRig.start()
        for target in ["/page", "/_api/x"] {
            let connection = try await rig.gatehouse.raw(
                "\(method) \(target) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nContent-Length: \(Self.hidden.utf8.count)\r\n\r\n\(Self.hidden)")
            #expect(try await connection.readResponse(headRequest: method == "HEAD").status == 200)
            await connection.close()
        }
        #expect(rig.app.requests.map(\.path) == ["/page"])
        #expect(rig.api.requests.map(\.path) == ["/x"])
        #expect(rig.app.requests.first?.body == Array(Self.hidden.utf8))
        #expect(rig.api.requests.first?.body == Array(Self.hidden.utf8))
        await rig.stop()
    }

    /// TRACE with a body (by length or chunked). NIO-style framing drops the framing fields
    /// of a TRACE; were its body then written bare, the request hidden in it would be the
    /// upstream's next one. Whatever the answer, no hidden request may arrive anywhere and
    /// the client gets one response.
    @Test func traceWithABodyNeverSmuggles() async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        let framings = [
            "Content-Length: \(Self.hidden.utf8.count)\r\n\r\n\(Self.hidden)",
            "Transfer-Encoding: chunked\r\n\r\n\(Self.chunked(Self.hidden))",
        ]
        for framing in framings {
            for target in ["/page", "/_api/x"] {
                let connection = try await rig.gatehouse.raw("TRACE \(target) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\(framing)")
                let response = try await connection.readResponse()
                #expect(response.status >= 200)
                await connection.close()
            }
        }
        // Give a smuggled request time to land.
        try await Task.sleep(for: .milliseconds(200))
        #expect(Self.noneSmuggled(rig))
        for request in rig.api.requests + rig.app.requests { #expect(request.body.isEmpty || request.body == Array(Self.hidden.utf8)) }
        await rig.stop()
    }

    /// Chunk extensions (`5;name=value`, a quoted value, one on the last chunk). A parser
    /// that takes the extension for part of the size, or forwards it so the upstream does,
    /// reads a different body length. The body is its bytes and the next request follows.
    @Test(arguments: ["5;name=value\r\nhello\r\n0;last\r\n\r\n", "5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n", "5 ;a\r\nhello\r\n0\r\n\r\n", "2;x\r\nhe\r\n3;y=z\r\nllo\r\n0\r\n\r\n"])
    func chunkExtensionsKeepOneBody(chunks: String) async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        let connection = try await rig.gatehouse.raw(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nTransfer-Encoding: chunked\r\n\r\n\(chunks)"
                + "GET /_api/after HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        let first = try await connection.readResponse()
        if first.status == 400 {
            #expect(await connection.waitForClose())
            #expect(rig.api.requests.isEmpty)
        } else {
            #expect(first.status == 200)
            #expect(try await connection.readResponse().status == 200)
            #expect(rig.api.requests.map(\.path) == ["/x", "/after"])
            #expect(rig.api.requests.first?.body == Array("hello".utf8))
        }
        await connection.close()
        await rig.stop()
    }

    /// A chunk size too large for 64 bits (`1` followed by 16 zeros and more): a parser
    /// that wraps it reads a tiny chunk and takes the rest of the "chunk" for a request.
    @Test func overflowingChunkSizeIs400() async throws {
        let rig = try await GateRig.start()
        let connection = try await rig.gatehouse.raw(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "10000000000000005\r\nhello\r\n0\r\n\r\n\(Self.hidden)")
        let response = try await connection.readResponse()
        #expect(response.status == 400)
        #expect(await connection.waitForClose())
        await connection.close()
        try await Task.sleep(for: .milliseconds(100))
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }

    // MARK: - Request side: trailers

    /// Client trailers naming identity fields (`X-Gatehouse-User`, `Authorization`, the
    /// `__session` cookie). The gate replaces `Authorization` and drops client
    /// `X-Gatehouse-*` "in every spelling" from the header section; trailers forwarded as
    /// they came put the client's own `X-Gatehouse-User: admin` and bearer in front of the
    /// API upstream, where any server that merges trailers into its header map (RFC 9110
    /// §6.5.1 forbids it, some do it) believes them. nginx and Envoy drop request trailers
    /// on HTTP/1. No client-chosen identity may reach the API upstream.
    @Test
    func trailersNeverCarryIdentityToTheAPI() async throws {
        let api = try await RawUpstream.start { _, _ in .ok("fine") }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let trailers = "X-Gatehouse-User: admin\r\nx_gatehouse_org: org_evil\r\nAuthorization: Bearer stolen_key\r\nCookie: __session=stolen_session\r\n"
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(TransportRig.apiKey)\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\(trailers)\r\n")
        let response = try await connection.readResponse()
        await connection.close()
        if response.status == 200 {
            let seen = String(decoding: api.received, as: UTF8.self)
            #expect(api.requests.count == 1)
            for secret in ["admin", "org_evil", "stolen_key", "stolen_session"] {
                #expect(!seen.contains(secret), "client trailer reached the API upstream: \(seen.debugDescription)")
            }
        } else {
            #expect(response.status == 400)
            #expect(api.requests.isEmpty)
        }
        await gatehouse.stop()
        await api.stop()
    }

    /// Trailers that name framing or routing fields (`Content-Length`, `Transfer-Encoding`,
    /// `Host`, `Connection`). RFC 9110 §6.5.1: they may not be trailers. Forwarded, an
    /// upstream that merges them may re-read the message's framing after the fact. Either
    /// a 400, or the upstream sees one request whose trailer section carries none of them.
    @Test
    func trailersNeverCarryFramingFields() async throws {
        let api = try await RawUpstream.start { _, _ in .ok("fine") }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        for trailer in ["Content-Length: 50", "Transfer-Encoding: chunked", "Host: evil.test", "Connection: close", "Upgrade: h2c"] {
            api.reset()
            let connection = try await RawConnection.connect(port: gatehouse.port)
            try await connection.send(
                "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(TransportRig.apiKey)\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\(trailer)\r\n\r\n")
            let response = try await connection.readResponse()
            await connection.close()
            if response.status == 200 {
                #expect(api.requests.count == 1)
                let trailers = api.requests.first?.trailers ?? ""
                #expect(!trailers.lowercased().contains(trailer.lowercased()), "\(trailer) forwarded as a trailer: \(trailers.debugDescription)")
            } else {
                #expect(response.status == 400, "\(trailer)")
                #expect(api.requests.isEmpty)
            }
        }
        await gatehouse.stop()
        await api.stop()
    }

    // MARK: - Request side: connection management

    /// `Expect: 100-continue`, then the body and a second request pipelined behind it.
    /// With a token: the 100, the body as the first request's body, the second as a request
    /// of its own. Without one: the 401 comes at once (no 100) and the connection closes,
    /// so the body the client sends anyway (a request) is never read as the next request.
    @Test func expectContinueThenPipelinedBytes() async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        let connection = try await rig.gatehouse.raw(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        #expect(try await connection.readResponse().status == 100)
        try await connection.send("hello" + "GET /_api/after HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        var statuses: [Int] = []
        while statuses.filter({ $0 >= 200 }).count < 2 { statuses.append(try await connection.readResponse().status) }
        #expect(statuses.filter { $0 >= 200 } == [200, 200])
        await connection.close()
        #expect(rig.api.requests.map(\.path) == ["/x", "/after"])
        #expect(rig.api.requests.first?.body == Array("hello".utf8))
        #expect(rig.api.requests.allSatisfy { $0.values("Expect").isEmpty })

        let gated = try await rig.gatehouse.raw(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nExpect: 100-continue\r\nContent-Length: \(Self.hidden.utf8.count)\r\n\r\n")
        Gate.expectMissing(try await gated.readResponse())
        try? await gated.send(Self.hidden)
        let rest = try await gated.readUntilClose()
        #expect(rest.isEmpty, "\(String(decoding: rest, as: UTF8.self))")
        await gated.close()
        #expect(rig.api.requests.count == 2)
        await rig.stop()
    }

    /// `Connection: close` (and HTTP/1.0 without keep-alive) followed by a pipelined
    /// request: the client asked for one exchange. The second must never reach an
    /// upstream, and the client must see exactly one response, then the close.
    @Test(arguments: ["HTTP/1.1\r\nConnection: close", "HTTP/1.1\r\nConnection: keep-alive, close", "HTTP/1.0"])
    func closeRequestedStopsAtOneRequest(version: String) async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        for target in ["/page", "/_api/x"] {
            let connection = try await rig.gatehouse.raw(
                "POST \(target) \(version)\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nContent-Length: 5\r\n\r\nhello"
                    + "GET /_api/smuggled HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
            #expect(try await connection.readResponse().status == 200)
            let rest = try await connection.readUntilClose()
            #expect(rest.isEmpty, "\(String(decoding: rest, as: UTF8.self))")
            await connection.close()
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(rig.api.requests.map(\.path) == ["/x"])
        #expect(rig.app.requests.map(\.path) == ["/page"])
        #expect(rig.api.requests.first?.body == Array("hello".utf8))
        await rig.stop()
    }

    /// HTTP/1.0 with `Transfer-Encoding: chunked` (RFC 9112 §6.1: a 1.0 recipient may
    /// not understand it; the upstream request goes out as 1.1). Either a 400, or the body
    /// arrives as one body, never as a request.
    @Test func http10ChunkedIsOneBodyOr400() async throws {
        let rig = try await GateRig.start()
        let body = "0\r\n\r\n" + Self.hidden
        for target in ["/page", "/_api/x"] {
            let connection = try await rig.gatehouse.raw(
                "POST \(target) HTTP/1.0\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nTransfer-Encoding: chunked\r\n\r\n\(Self.chunked(body))")
            let response = try await connection.readResponse()
            #expect(response.status == 200 || response.status == 400)
            #expect(await connection.waitForClose())
            await connection.close()
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(Self.noneSmuggled(rig))
        for request in rig.api.requests + rig.app.requests { #expect(request.body == Array(body.utf8)) }
        await rig.stop()
    }

    /// A `Connection` header naming the framing fields or `Host` (RFC 9110 §7.6.1 lets a
    /// sender list any field as hop-by-hop). A proxy that obeys it literally drops
    /// `Content-Length`/`Transfer-Encoding` and forwards the body unframed: the hidden
    /// request is then the upstream's next one. Framing must survive.
    @Test(arguments: ["Content-Length", "content-length, keep-alive", " CONTENT-LENGTH ", "Transfer-Encoding", "keep-alive,transfer-encoding", "Host"])
    func connectionNamingFramingFieldsKeepsFraming(named: String) async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        let framing = named.lowercased().contains("transfer")
            ? "Transfer-Encoding: chunked\r\n\r\n\(Self.chunked(Self.hidden))"
            : "Content-Length: \(Self.hidden.utf8.count)\r\n\r\n\(Self.hidden)"
        for target in ["/page", "/_api/x"] {
            let connection = try await rig.gatehouse.raw(
                "POST \(target) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nConnection: \(named)\r\n\(framing)"
                    + "GET \(target)/after HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
            #expect(try await connection.readResponse().status == 200)
            #expect(try await connection.readResponse().status == 200)
            await connection.close()
        }
        #expect(rig.app.requests.map(\.path) == ["/page", "/page/after"])
        #expect(rig.api.requests.map(\.path) == ["/x", "/x/after"])
        #expect(rig.app.requests.first?.body == Array(Self.hidden.utf8))
        #expect(rig.api.requests.first?.body == Array(Self.hidden.utf8))
        #expect(rig.app.requests.allSatisfy { $0.values("Host").count == 1 })
        await rig.stop()
    }

    /// `Upgrade` on a request that is not a WebSocket GET (a POST with a body, an `h2c`
    /// GET): never passed on (a tunnel the gate did not mean), and the parser stops at a
    /// protocol switch, so nothing behind the request may be taken as a request: one
    /// exchange, then the close.
    @Test(arguments: [
        "POST /_api/x HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\n\r\nhello",
        "GET /_api/x HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        "PUT /page HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ])
    func upgradeOnANonWebSocketRequestIsOneExchange(request: String) async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        let head = request.replacingOccurrences(of: " HTTP/1.1\r\n", with: " HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n")
        let connection = try await rig.gatehouse.raw(head + "GET /_api/smuggled HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        let response = try await connection.readResponse()
        #expect(response.status == 200)
        #expect(response.header("upgrade") == nil)
        let rest = try await connection.readUntilClose()
        #expect(rest.isEmpty, "\(String(decoding: rest, as: UTF8.self))")
        await connection.close()
        try await Task.sleep(for: .milliseconds(100))
        #expect(Self.noneSmuggled(rig))
        let forwarded = rig.api.requests + rig.app.requests
        #expect(forwarded.count == 1)
        #expect(forwarded.allSatisfy { $0.values("Upgrade").isEmpty })
        await rig.stop()
    }

    /// Requests pipelined behind one Gatehouse answers itself: a 401 with a body (the
    /// body is a request), a 413, a 400. The connection closes after each, so nothing
    /// behind is read as a request. Behind a body-less 401 the next request is a request,
    /// gated on its own: it goes through only with its own credential.
    @Test func pipelinedBehindLocalAnswers() async throws {
        let rig = try await GateRig.start { $0.limits.maxAPIBodyBytes = 16 }
        let token = rig.token()
        let authorised = "GET /_api/smuggled HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n"
        let closing: [(String, Int)] = [
            ("POST /_api/x HTTP/1.1\r\nHost: g.test\r\nContent-Length: \(authorised.utf8.count)\r\n\r\n\(authorised)", 401),
            ("POST /_api/x HTTP/1.1\r\nHost: g.test\r\nTransfer-Encoding: chunked\r\n\r\n\(Self.chunked(authorised))", 401),
            ("POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nContent-Length: 17\r\n\r\n01234567890123456", 413),
            ("POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n01234567890123456\r\n0\r\n\r\n", 413),
            ("GET /_api/%2F HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n", 400),
            ("POST /_auth/me HTTP/1.1\r\nHost: g.test\r\nContent-Length: \(authorised.utf8.count)\r\n\r\n\(authorised)", -1),
        ]
        for (request, status) in closing {
            let connection = try await rig.gatehouse.raw(request + authorised)
            let response = try await connection.readResponse()
            if status > 0 { #expect(response.status == status, "\(request)") }
            // Whatever comes next is not an answer to the pipelined request.
            let rest = String(decoding: (try? await connection.readUntilClose(timeout: .seconds(3))) ?? [], as: UTF8.self)
            #expect(!rest.contains("smuggled"), "\(request): \(rest)")
            await connection.close()
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(Self.noneSmuggled(rig))

        let connection = try await rig.gatehouse.raw(
            "GET /_api/one HTTP/1.1\r\nHost: g.test\r\n\r\nGET /_api/two HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        Gate.expectMissing(try await connection.readResponse())
        #expect(try await connection.readResponse().text == #"{"api":"/two"}"#)
        await connection.close()
        #expect(rig.api.requests.map(\.path) == ["/two"])
        #expect(rig.api.requests.first?.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
        await rig.stop()
    }

    /// `CONNECT` (authority form, and with a path). llhttp treats a CONNECT as the end of
    /// HTTP on the connection; forwarded, the upstream connection would be a tunnel (or a
    /// parser that stopped) and, pooled, poison the next client's exchange. Whatever the
    /// client gets, a later request from another client on the same loop gets its own
    /// answer, and nothing behind the CONNECT is a request.
    @Test(arguments: ["CONNECT g.test:443 HTTP/1.1", "CONNECT /page HTTP/1.1", "CONNECT /_api/x HTTP/1.1"])
    func connectNeverPoisonsAnUpstreamConnection(requestLine: String) async throws {
        let rig = try await GateRig.start {
            $0.eventLoops = 1
            // A poisoned pooled connection shows as a 504 rather than a hung test.
            $0.limits.upstreamResponseTimeoutMs = 2_000
        }
        let token = rig.token()
        let connection = try await rig.gatehouse.raw(
            "\(requestLine)\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n" + "GET /_api/smuggled HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        let answer = try? await connection.readResponse(timeout: .seconds(3))
        #expect(answer.map { $0.status != 200 } ?? true, "CONNECT answered 200 (a tunnel)")
        await connection.close()
        for target in ["/page", "/_api/y"] {
            let next = try await rig.gatehouse.request("GET", target, headers: [("Authorization", "Bearer \(token)")], host: "g.test")
            #expect(next.status == 200, "\(target) after \(requestLine)")
            #expect(next.text == (target == "/page" ? "app /page" : #"{"api":"/y"}"#))
        }
        #expect(Self.noneSmuggled(rig))
        await rig.stop()
    }

    // MARK: - Response side (hostile or broken upstreams)

    /// A response with both `Content-Length` and `Transfer-Encoding: chunked`. RFC 9112
    /// §6.3: chunked wins and the message must not be forwarded as it is. Re-framed by the
    /// `Content-Length` (which Gatehouse's framing prefers) while read as chunked, the
    /// client would cut the body short and read the rest as the next response. 502, or a
    /// well-framed body; and the client's next request gets its own answer.
    @Test(arguments: ["Content-Length: 3\r\nTransfer-Encoding: chunked", "Transfer-Encoding: chunked\r\nContent-Length: 3"])
    func responseWithBothFramingsIsNeverReframed(fields: String) async throws {
        let body = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
        let api = try await RawUpstream.start { _, index in
            index == 0 ? .raw("HTTP/1.1 200 OK\r\n\(fields)\r\n\r\n" + Self.chunked(body)) : .ok("fine")
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.get("/_api/one") + Self.get("/_api/two"))
        let first = try await connection.readResponse()
        #expect(first.status == 502 || first.text == body)
        let second = try await connection.readResponse()
        #expect(second.text == "fine")
        await connection.close()
        await gatehouse.stop()
        await api.stop()
    }

    /// `Transfer-Encoding` spellings from the upstream: `Chunked`, `CHUNKED`, with OWS.
    /// Read as chunked (codings are case-insensitive), the body reaches the client framed
    /// once, the next response follows cleanly and the connection is reused.
    @Test(arguments: ["Chunked", "CHUNKED", " chunked", "\tchunked "])
    func responseTransferEncodingSpellings(value: String) async throws {
        let api = try await RawUpstream.start { _, index in
            index == 0 ? .raw("HTTP/1.1 200 OK\r\nTransfer-Encoding:\(value)\r\n\r\n" + "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") : .ok("fine")
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        // One after the other: a request pipelined behind the first would be handed a
        // connection of its own (the first's is still decoding its read), not this one.
        try await connection.send(Self.get("/_api/one"))
        let first = try await connection.readResponse()
        #expect(first.status == 200)
        #expect(first.text == "abcde")
        try await connection.send(Self.get("/_api/two"))
        #expect(try await connection.readResponse().text == "fine")
        await connection.close()
        #expect(api.connectionCount == 1)
        await gatehouse.stop()
        await api.stop()
    }

    /// `Transfer-Encoding: gzip, chunked` from the upstream (a coding the client never
    /// asked for: Gatehouse strips the client's `TE`). Read as chunked, the body is still
    /// gzip-coded; re-framed as plain `chunked`, the client is handed compressed bytes as
    /// if they were the content. Refuse it (502, as nginx's "upstream sent unknown
    /// Transfer-Encoding") or keep the coding; the next response follows cleanly.
    @Test
    func responseTransferCodingIsNeverDropped() async throws {
        let api = try await RawUpstream.start { _, index in
            index == 0 ? .raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") : .ok("fine")
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.get("/_api/one") + Self.get("/_api/two"))
        let first = try await connection.readResponse()
        if first.status != 502 {
            let codings = (first.headerValues("transfer-encoding") + first.headerValues("content-encoding")).joined(separator: ",")
            #expect(codings.contains("gzip"), "the gzip coding was dropped: \(first.headers)")
        }
        #expect(try await connection.readResponse().text == "fine")
        await connection.close()
        await gatehouse.stop()
        await api.stop()
    }

    /// A response declaring more bytes than it sends, then closing. The client must see
    /// the cut (a close), never a complete-looking response padded or followed by
    /// anything, and the connection must not serve another request.
    @Test func shortResponseThenCloseIsCut() async throws {
        let api = try await RawUpstream.start { _, index in
            index == 0 ? RawUpstream.Reply(bytes: Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd".utf8), close: true) : .ok("fine")
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.get("/_api/one") + Self.get("/_api/two"))
        let all = String(decoding: try await connection.readUntilClose(), as: UTF8.self)
        await connection.close()
        if all.hasPrefix("HTTP/1.1 502") {
            #expect(!all.contains("abcd"))
        } else {
            #expect(all.hasPrefix("HTTP/1.1 200"))
            #expect(all.hasSuffix("\r\n\r\nabcd"), "\(all.debugDescription)")
        }
        #expect(!all.contains("fine"))
        let next = try await gatehouse.request("GET", "/_api/three", headers: TransportRig.bearer, host: "g.test")
        #expect(next.text == "fine")
        await gatehouse.stop()
        await api.stop()
    }

    /// Bytes behind a response that ended (a body on a 204 or 304, a body answering a
    /// HEAD, a whole second response): what a broken upstream — or one reflecting user
    /// content after a mis-framed answer — sends. Those bytes belong to no request; on a
    /// pooled connection they would answer the next exchange. Another client's request on
    /// the same loop must get its own answer.
    @Test(arguments: UnframedTail.allCases)
    func bytesBehindAResponseNeverReachTheNextClient(_ tail: UnframedTail) async throws {
        let api = try await RawUpstream.start { request, index in
            index == 0 ? .raw(tail.response) : .ok("fine " + request.path)
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let first = try await RawConnection.connect(port: gatehouse.port)
        try await first.send(tail.request("/_api/one"))
        let answered = try await first.readResponse(headRequest: tail == .headWithBody)
        #expect(!answered.text.contains("smuggled"))
        for i in 0..<3 {
            let next = try await gatehouse.request("GET", "/_api/n\(i)", headers: TransportRig.bearer, host: "g.test")
            #expect(next.text == "fine /n\(i)", "\(tail)")
        }
        await first.close()
        await gatehouse.stop()
        await api.stop()
    }

    /// As ``bytesBehindAResponseNeverReachTheNextClient(_:)`` with the next request
    /// pipelined by the same client: it is handed over the moment the response ends,
    /// while the rest of the upstream's read (the unframed tail) is still being decoded.
    /// If the connection went back to the pool and straight to that request, the tail is
    /// its answer: the upstream's leftover bytes answer a request they never saw (the
    /// request's real answer is then dropped).
    @Test(arguments: UnframedTail.allCases)
    func bytesBehindAResponseNeverAnswerAPipelinedRequest(_ tail: UnframedTail) async throws {
        let api = try await RawUpstream.start { request, index in
            index == 0 ? .raw(tail.response) : .ok("fine " + request.path)
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(tail.request("/_api/one") + Self.get("/_api/two"))
        let answered = try await connection.readResponse(headRequest: tail == .headWithBody)
        #expect(!answered.text.contains("smuggled"))
        let second = try await connection.readResponse()
        #expect(!second.text.contains("smuggled"))
        // Its own answer; or, if the connection it was handed was already spoilt, a 502 for a
        // request that never reached the upstream (one that did was executed there, so a
        // client retrying on the 502 runs it twice).
        let reached = api.requests.map(\.path)
        #expect(second.text == "fine /two" || (second.status == 502 && !reached.contains("/two")),
                "\(tail): the pipelined request got \(second.status) \(second.text.debugDescription); the upstream saw \(reached)")
        await connection.close()
        await gatehouse.stop()
        await api.stop()
    }

    enum UnframedTail: String, CaseIterable, Sendable {
        case noContentWithBody, notModifiedWithBody, headWithBody, secondResponse

        static let smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"

        var response: String {
            switch self {
            case .noContentWithBody: "HTTP/1.1 204 No Content\r\nContent-Length: \(Self.smuggled.utf8.count)\r\n\r\n\(Self.smuggled)"
            case .notModifiedWithBody: "HTTP/1.1 304 Not Modified\r\nContent-Length: \(Self.smuggled.utf8.count)\r\n\r\n\(Self.smuggled)"
            case .headWithBody: "HTTP/1.1 200 OK\r\nContent-Length: \(Self.smuggled.utf8.count)\r\n\r\n\(Self.smuggled)"
            case .secondResponse: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\(Self.smuggled)"
            }
        }

        func request(_ path: String) -> String {
            let method = self == .headWithBody ? "HEAD" : "GET"
            return "\(method) \(path) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(TransportRig.apiKey)\r\n\r\n"
        }
    }

    /// A HEAD answered correctly: `Content-Length` of the would-be body, no body. The
    /// client gets the length and no body, and the next pipelined response starts right
    /// after the head (a proxy that expects the declared bytes would hang or eat the next
    /// response).
    @Test func headResponseWithContentLengthKeepsTheStreamAligned() async throws {
        let api = try await RawUpstream.start { request, _ in
            request.method == "HEAD" ? .raw("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n") : .ok("fine")
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send("HEAD /_api/one HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(TransportRig.apiKey)\r\n\r\n")
        let head = String(decoding: try await connection.readRaw { String(decoding: $0, as: UTF8.self).contains("\r\n\r\n") }, as: UTF8.self)
        // The next request on the same connection once the first answer is in: its answer
        // must start right after the head (on the upstream connection the HEAD used).
        try await connection.send(Self.get("/_api/two"))
        let raw = head + String(decoding: try await connection.readRaw { String(decoding: $0, as: UTF8.self).contains("fine") }, as: UTF8.self)
        await connection.close()
        let parts = raw.components(separatedBy: "\r\n\r\n")
        #expect(parts.count == 3, "\(raw.debugDescription)")
        #expect(parts.first?.lowercased().contains("content-length: 1234") == true)
        #expect(parts.count > 1 && parts[1].hasPrefix("HTTP/1.1 200"), "\(raw.debugDescription)")
        #expect(api.connectionCount == 1)
        await gatehouse.stop()
        await api.stop()
    }

    /// Informational responses: `103 Early Hints` goes to the client ahead of the final
    /// answer. A 1xx that declares a body (`199` with `Content-Length`; RFC 9110 §15.2: a
    /// 1xx has none) must not have it written after the interim head: the client reads
    /// those bytes as the start of the final response, and the upstream's body text
    /// becomes a status line the client believes.
    @Test func informationalResponsesKeepTheStreamAligned() async throws {
        let api = try await RawUpstream.start { _, index in
            switch index {
            case 0: .raw("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
            default: .ok("fine")
            }
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.get("/_api/one"))
        // The 103 may be passed on or dropped (NIO's decoder drops interim answers by
        // default); either way the final answer and the next one follow in order, the next
        // on the same upstream connection.
        var first = try await connection.readResponse()
        if first.status == 103 { first = try await connection.readResponse() }
        #expect(first.status == 200)
        #expect(first.text == "real")
        try await connection.send(Self.get("/_api/two"))
        #expect(try await connection.readResponse().text == "fine")
        await connection.close()
        #expect(api.connectionCount == 1)
        await gatehouse.stop()
        await api.stop()
    }

    /// A 1xx that declares a body (`199` with `Content-Length`): RFC 9110 §15.2, a 1xx
    /// has none, so the bytes after its head are the next response. Written raw after the
    /// interim head instead, they would reach the client unframed and be read as a status
    /// line of their own. Whatever the client gets is framed by Gatehouse.
    @Test func informationalResponseBodyIsNeverWrittenRaw() async throws {
        let api = try await RawUpstream.start { _, index in
            index == 0
                ? .raw("HTTP/1.1 199 Odd\r\nContent-Length: 22\r\n\r\nHTTP/1.1 302 Found\r\n\r\n" + "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
                : .ok("fine")
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.get("/_api/one"))
        // The 302 has no length: read until the upstream closes, which it never does (cut at
        // the upstream timeout).
        let raw = String(decoding: try await connection.readUntilClose(), as: UTF8.self)
        await connection.close()
        #expect(!raw.contains("\r\n\r\nHTTP/1.1 302 Found\r\n\r\n"), "a 1xx body reached the client raw: \(raw.debugDescription)")
        #expect(!raw.contains("HTTP/1.1 199 Odd\r\ncontent-length") && !raw.contains("HTTP/1.1 199 Odd\r\nContent-Length"))
        await gatehouse.stop()
        await api.stop()
    }

    /// A `101 Switching Protocols` nobody asked for, with HTTP bytes behind it. Tunnelled,
    /// the client would take the bytes behind it for responses, and the upstream's bytes
    /// for what it likes. 502, and none of the bytes behind the 101 reach the client.
    @Test func unrequestedSwitchIs502AndNothingBehindIt() async throws {
        let api = try await RawUpstream.start { _, index in
            index == 0
                ? .raw("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + UnframedTail.smuggled)
                : .ok("fine")
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.get("/_api/one"))
        let response = try await connection.readResponse()
        #expect(response.status == 502)
        try await Task.sleep(for: .milliseconds(200))
        try await connection.send(Self.get("/_api/two"))
        let after = String(decoding: (try? await connection.readRaw(timeout: .seconds(3)) { String(decoding: $0, as: UTF8.self).contains("\r\n\r\n") && $0.count > 40 }) ?? [], as: UTF8.self)
        #expect(!after.contains("smuggled"), "\(after.debugDescription)")
        await connection.close()
        let next = try await gatehouse.request("GET", "/_api/three", headers: TransportRig.bearer, host: "g.test")
        #expect(next.text == "fine")
        await gatehouse.stop()
        await api.stop()
    }

    /// Duplicate `Content-Length` in a response (equal values, two fields or a list). Passed
    /// on as two fields, clients disagree (some take the first, some refuse, some sum): a
    /// split. 502, or exactly one `Content-Length` that matches the body.
    @Test(arguments: ["Content-Length: 4\r\nContent-Length: 4", "Content-Length: 4, 4", "Content-Length: 0004"])
    func duplicateResponseContentLengthIsNormalisedOr502(fields: String) async throws {
        let api = try await RawUpstream.start { _, index in
            index == 0 ? .raw("HTTP/1.1 200 OK\r\n\(fields)\r\n\r\nbody") : .ok("fine")
        }
        let gatehouse = try await TransportRig.start(api: api.url) { Self.oneLoop(&$0) }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.get("/_api/one") + Self.get("/_api/two"))
        let first = try await connection.readResponse()
        if first.status != 502 {
            #expect(first.headerValues("content-length").compactMap(Int.init) == [4], "\(first.headers)")
            #expect(first.text == "body")
        }
        #expect(try await connection.readResponse().text == "fine")
        await connection.close()
        await gatehouse.stop()
        await api.stop()
    }

    /// One event loop (so every exchange shares one pool) and a short upstream timeout
    /// (a connection left waiting shows as a 504, not a hung test).
    static func oneLoop(_ config: inout GatehouseConfiguration) {
        config.eventLoops = 1
        config.limits.upstreamResponseTimeoutMs = 3_000
    }

    static func get(_ path: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(TransportRig.apiKey)\r\n\r\n"
    }
}
