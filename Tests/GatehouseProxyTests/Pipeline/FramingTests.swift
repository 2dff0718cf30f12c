import Foundation
import GatehouseTesting
import Testing

/// Tier 3 over a real socket: requests framed any way but RFC 9112's strict one get 400
/// and a closed connection, and nothing reaches an upstream (SPEC "Routing", framing).
/// Every request carries a valid token, so only framing can be what stops it.
@Suite struct FramingTests {
    enum Malformed: String, CaseIterable, Sendable {
        case bareLF, bareLFInHeaders, bareCR, obsFold, spaceBeforeColon, tabBeforeColon
        case contentLengthAndTransferEncoding, gzipThenChunked, chunkedTwiceInTwoFields, chunkedTwiceInOneField, identityEncoding
        case nonHexChunkSize, chunkSizeWithPlus, twoHosts, noHost, plusContentLength, negativeContentLength
        case twoDifferentContentLengths, twoEqualContentLengths, contentLengthList, nulInHeader
        case traceWithContent, traceWithChunkedContent

        /// The head is sound and the error is in the chunked body: the gate has already
        /// accepted the head and may have begun connecting upstream, but nothing is sent.
        var isBodyError: Bool { self == .nonHexChunkSize || self == .chunkSizeWithPlus }

        func bytes(token: String) -> String {
            let auth = "Authorization: Bearer \(token)"
            switch self {
            case .bareLF: return "GET /_api/x HTTP/1.1\nHost: g.test\n\(auth)\n\n"
            case .bareLFInHeaders: return "GET /_api/x HTTP/1.1\r\nHost: g.test\n\(auth)\r\n\r\n"
            case .bareCR: return "GET /_api/x HTTP/1.1\r\nHost: g.test\r\(auth)\r\n\r\n"
            case .obsFold: return "GET /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nX-Long: a\r\n  continued\r\n\r\n"
            case .spaceBeforeColon: return "GET /_api/x HTTP/1.1\r\nHost : g.test\r\n\(auth)\r\n\r\n"
            case .tabBeforeColon: return "GET /_api/x HTTP/1.1\r\nHost: g.test\r\nX-Thing\t: 1\r\n\(auth)\r\n\r\n"
            case .contentLengthAndTransferEncoding:
                return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            case .gzipThenChunked:
                return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            case .chunkedTwiceInTwoFields:
                return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            case .chunkedTwiceInOneField:
                return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            case .identityEncoding:
                return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"
            case .nonHexChunkSize:
                return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
            case .chunkSizeWithPlus:
                return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"
            case .twoHosts: return "GET /_api/x HTTP/1.1\r\nHost: g.test\r\nHost: evil.test\r\n\(auth)\r\n\r\n"
            case .noHost: return "GET /_api/x HTTP/1.1\r\n\(auth)\r\n\r\n"
            case .plusContentLength: return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nContent-Length: +5\r\n\r\nhello"
            case .negativeContentLength: return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nContent-Length: -5\r\n\r\nhello"
            case .twoDifferentContentLengths:
                return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
            case .twoEqualContentLengths:
                return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
            case .contentLengthList: return "POST /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nContent-Length: 5, 5\r\n\r\nhello"
            case .nulInHeader: return "GET /_api/x HTTP/1.1\r\nHost: g.test\r\nX-A: a\u{0}b\r\n\(auth)\r\n\r\n"
            // RFC 9110 §9.3.8; upstream a TRACE goes unframed, so its content would be the next request there.
            case .traceWithContent:
                let hidden = "GET /_api/smuggled HTTP/1.1\r\nHost: g.test\r\n\r\n"
                return "TRACE /_api/x HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nContent-Length: \(hidden.utf8.count)\r\n\r\n\(hidden)"
            case .traceWithChunkedContent:
                return "TRACE /page HTTP/1.1\r\nHost: g.test\r\n\(auth)\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            }
        }
    }

    @Test(arguments: Malformed.allCases)
    func malformedFramingIs400AndClose(_ request: Malformed) async throws {
        let rig = try await GateRig.start()
        let connection = try await rig.gatehouse.raw(request.bytes(token: rig.token()))
        let response = try await connection.readResponse()
        #expect(response.status == 400)
        #expect(response.text == #"{"error":"bad_request"}"#)
        #expect(response.header("connection") == "close")
        #expect(await connection.waitForClose())
        await connection.close()
        #expect(rig.api.requests.isEmpty)
        if !request.isBodyError { #expect(rig.api.connectionCount == 0) }
        #expect(rig.app.requests.isEmpty)
        await rig.stop()
    }

    @Test func wellFramedControlRequestPasses() async throws {
        // The same rig and bytes, framed correctly, go through: the 400s above are framing.
        let rig = try await GateRig.start()
        let connection = try await rig.gatehouse.raw(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        #expect(try await connection.readResponse().status == 200)
        await connection.close()
        #expect(rig.api.requests.first?.body == Array("hello".utf8))
        await rig.stop()
    }

    @Test func clTeSmugglingNeverReachesTheAPIUnauthenticated() async throws {
        let rig = try await GateRig.start()
        // Content-Length covers the hidden request; Transfer-Encoding ends the body at "0".
        let hidden = "GET /_api/admin HTTP/1.1\r\nHost: g.test\r\n\r\n"
        let body = "0\r\n\r\n" + hidden
        for target in ["/page", "/_api/x"] {
            let connection = try await rig.gatehouse.raw(
                "POST \(target) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nContent-Length: \(body.utf8.count)\r\nTransfer-Encoding: chunked\r\n\r\n\(body)")
            let response = try await connection.readResponse()
            #expect(response.status == 400)
            let rest = try await connection.readUntilClose()
            #expect(rest.isEmpty, "nothing after the 400: \(String(decoding: rest, as: UTF8.self))")
            await connection.close()
        }
        #expect(rig.api.requests.isEmpty)
        #expect(rig.app.requests.isEmpty)
        await rig.stop()
    }

    @Test func requestHiddenInABodyStaysABody() async throws {
        let rig = try await GateRig.start()
        let hidden = "GET /_api/admin HTTP/1.1\r\nHost: g.test\r\n\r\n"
        // To the app: a legitimate body that looks like a request.
        let connection = try await rig.gatehouse.raw(
            "POST /upload HTTP/1.1\r\nHost: g.test\r\nContent-Length: \(hidden.utf8.count)\r\n\r\n\(hidden)GET /after HTTP/1.1\r\nHost: g.test\r\n\r\n")
        #expect(try await connection.readResponse().text == "app /upload")
        #expect(try await connection.readResponse().text == "app /after")
        await connection.close()
        #expect(rig.app.requests.map(\.path) == ["/upload", "/after"])
        #expect(rig.app.requests.first?.body == Array(hidden.utf8))

        // To the gate without a token: 401, the body is never parsed as a request.
        let gated = try await rig.gatehouse.raw(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nContent-Length: \(hidden.utf8.count)\r\n\r\n\(hidden)")
        Gate.expectMissing(try await gated.readResponse())
        let rest = try await gated.readUntilClose()
        #expect(rest.isEmpty)
        await gated.close()
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }

    @Test func everyAPIRequestUpstreamCarriesTheOwnerKey() async throws {
        // Pipelined mix of gated and ungated requests, some with bodies: whatever reaches the
        // API upstream is exactly the authenticated ones.
        let rig = try await GateRig.start()
        let token = rig.token(sub: "user_pipe")
        let requests = [
            "POST /_api/one HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nContent-Length: 3\r\n\r\nabc",
            "GET /_api/two HTTP/1.1\r\nHost: g.test\r\n\r\n",
            "GET /_api/three HTTP/1.1\r\nHost: g.test\r\nCookie: __session=\(token)\r\n\r\n",
        ]
        let connection = try await rig.gatehouse.raw(requests.joined())
        #expect(try await connection.readResponse().status == 200)
        Gate.expectMissing(try await connection.readResponse())
        #expect(try await connection.readResponse().status == 200)
        await connection.close()
        #expect(rig.api.requests.map(\.path) == ["/one", "/three"])
        for recorded in rig.api.requests {
            #expect(recorded.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
            #expect(recorded.values("X-Gatehouse-User") == ["user_pipe"])
        }
        await rig.stop()
    }

    /// `Transfer-Encoding` is case-insensitive (RFC 9112 §7): `Chunked` on a GET is a chunked
    /// body. Were it passed on as the client spelled it but its body written unchunked (NIO's
    /// encoder frames only an exact `chunked`), the body's own bytes would end the upstream's
    /// chunked read at a `0` line, and what follows would be a request of its own on a
    /// pooled connection: to the API upstream without the gate, its answer another
    /// client's. Each body must reach the upstream as the one body it is.
    @Test(arguments: ["GET", "DELETE", "OPTIONS"], ["Chunked", "CHUNKED", "chunked"])
    func aChunkedBodyOfAnyMethodAndSpellingStaysOneBody(method: String, spelling: String) async throws {
        let rig = try await GateRig.start()
        let hidden = "0\r\n\r\nGET /_api/smuggled HTTP/1.1\r\nHost: g.test\r\n\r\n"
        let chunk = String(hidden.utf8.count, radix: 16) + "\r\n" + hidden + "\r\n0\r\n\r\n"
        for target in ["/page", "/_api/x"] {
            let connection = try await rig.gatehouse.raw(
                "\(method) \(target) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nTransfer-Encoding: \(spelling)\r\n\r\n\(chunk)")
            #expect(try await connection.readResponse().status == 200)
            await connection.close()
        }
        #expect(rig.app.requests.map(\.path) == ["/page"])
        #expect(rig.api.requests.map(\.path) == ["/x"])
        #expect(rig.app.requests.first?.body == Array(hidden.utf8))
        #expect(rig.api.requests.first?.body == Array(hidden.utf8))
        await rig.stop()
    }
}
