import Foundation
import GatehouseCore
@testable import GatehouseProxy
import GatehouseTesting
import NIOHTTP1
import Testing

/// Live: Gatehouse on port 0 in front of a real app upstream, HTML injection end to end
/// (SPEC "HTML injection").
@Suite struct HTMLInjectionLiveTests {
    struct Rig {
        let app: TestHTTPServer
        let api: TestHTTPServer
        let gatehouse: TestGatehouse

        var tags: String { InjectionSnippet(app: gatehouse.configuration.apps[0]).tags(nonce: nil) }

        func stop() async {
            await gatehouse.stop()
            await app.stop()
            await api.stop()
        }
    }

    static func start(configure: (inout GatehouseConfiguration) -> Void = { _ in },
                      _ responder: @escaping @Sendable (RecordedRequest) -> TestResponse) async throws -> Rig {
        let app = try await TestHTTPServer.start(responder: responder)
        let api = try await TestHTTPServer.start(responder: responder)
        let gatehouse = try await TransportRig.start(app: app.url, api: api.url, configure: configure)
        return Rig(app: app, api: api, gatehouse: gatehouse)
    }

    static func html(_ extra: [(String, String)] = []) -> [(String, String)] {
        [("Content-Type", "text/html; charset=utf-8")] + extra
    }

    static func inserting(_ tags: String, into page: String, after marker: String) -> [UInt8] {
        guard let range = page.range(of: marker) else { return [] }
        return Array((page[..<range.upperBound] + tags + page[range.upperBound...]).utf8)
    }

    static let page = "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Home</title></head><body><h1>Hi</h1></body></html>\n"

    /// The head of an injectable page waits for the injector's decision; an upstream that
    /// stalls or fails before it is decided has sent the client nothing, so the client gets
    /// a proper 504 / 502, not a connection closed without a response.
    @Test(arguments: [false, true])
    func anUpstreamFailingBeforeTheInjectorDecidedIsAnsweredNotDropped(closes: Bool) async throws {
        let start = Array("<!DOCTYPE html>\n<html lang=\"en\"><he".utf8)
        let rig = try await Self.start(configure: { $0.limits.upstreamResponseTimeoutMs = 300 }) { _ in
            .partialBody(headers: Self.html(), body: start, declared: 4_000, thenClose: closes)
        }
        let response = try await rig.gatehouse.request("GET", "/slow.html")
        #expect(response.status == (closes ? 502 : 504))
        #expect(response.text == (closes ? #"{"error":"bad_gateway"}"# : #"{"error":"gateway_timeout"}"#))
        await rig.stop()
    }

    @Test func bothTagsGoRightAfterHeadAndTheRestIsByteIdentical() async throws {
        let rig = try await Self.start { _ in .fixed(headers: Self.html([("ETag", "\"abc\"")]), body: Self.page) }
        let response = try await rig.gatehouse.request("GET", "/home.html")
        let expected = Self.inserting(rig.tags, into: Self.page, after: "<head>")
        #expect(response.status == 200)
        #expect(response.body == expected)
        #expect(response.header("content-length") == "\(expected.count)")
        #expect(response.header("etag") == "W/\"abc\"")
        // The inline config names the app and decodes as JSON.
        let text = response.text
        let start = try #require(text.range(of: "window.__MIXPEEK__="))
        let end = try #require(text.range(of: "</script>", range: start.upperBound..<text.endIndex))
        let config = try JSONSerialization.jsonObject(with: Data(text[start.upperBound..<end.lowerBound].utf8)) as? [String: Any]
        #expect(config?["appId"] as? String == "app_test")
        #expect((config?["auth"] as? [String: Any])?["mode"] as? String == "jwt")
        #expect(!text.contains(TestGatehouse.ownerKey))
        await rig.stop()
    }

    @Test(arguments: [
        ("<HEAD lang=en><title>x</title></HEAD>", "<HEAD lang=en>"),
        ("<html data-x=1><body>no head</body></html>", "<html data-x=1>"),
        ("<p>just a fragment</p>", ""),
    ])
    func insertionPoint(page: String, marker: String) async throws {
        let rig = try await Self.start { _ in .fixed(headers: Self.html(), body: page) }
        let response = try await rig.gatehouse.request("GET", "/page")
        let expected = marker.isEmpty ? Array((rig.tags + page).utf8) : Self.inserting(rig.tags, into: page, after: marker)
        #expect(response.body == expected)
        await rig.stop()
    }

    @Test(arguments: ["gzip", "deflate"])
    func compressedPagesComeBackCompressedAndInjected(coding: String) async throws {
        let compressed = try Zlib.compress(Array(Self.page.utf8), coding == "gzip" ? .gzip : .deflate)
        let rig = try await Self.start { request in
            .bytes(headers: Self.html([("Content-Encoding", coding), ("ETag", "\"z1\""), ("Vary", "Accept-Encoding")]), body: compressed)
        }
        let response = try await rig.gatehouse.request("GET", "/", headers: [("Accept-Encoding", "br, \(coding)")])
        #expect(response.status == 200)
        #expect(response.header("content-encoding") == coding)
        #expect(response.header("etag") == "W/\"z1\"")
        #expect(response.header("content-length") == "\(response.body.count)")
        #expect(try Zlib.decompress(response.body) == Self.inserting(rig.tags, into: Self.page, after: "<head>"))
        // The upstream was asked only for what Gatehouse can decode.
        #expect(rig.app.requests.first?.values("Accept-Encoding") == [coding])
        await rig.stop()
    }

    @Test func aChunkedGzipPageIsReencodedAsItStreams() async throws {
        let page = "<html><head><title>t</title></head><body>" + String(repeating: "<li>item</li>", count: 20_000) + "</body></html>"
        let compressed = try Zlib.compress(Array(page.utf8), .gzip)
        let third = compressed.count / 3
        let chunks = [Array(compressed[..<7]), Array(compressed[7..<third]), Array(compressed[third..<(2 * third)]), Array(compressed[(2 * third)...])]
        let rig = try await Self.start { _ in .chunked(headers: Self.html([("Content-Encoding", "gzip")]), chunks: chunks) }
        let response = try await rig.gatehouse.request("GET", "/list", headers: [("Accept-Encoding", "gzip")])
        #expect(response.header("transfer-encoding") == "chunked")
        #expect(response.header("content-length") == nil)
        #expect(try Zlib.decompress(response.body) == Self.inserting(rig.tags, into: page, after: "<head>"))
        await rig.stop()
    }

    @Test func cspGetsAFreshNonceInTheHeaderAndBothTags() async throws {
        let rig = try await Self.start { _ in
            .fixed(headers: Self.html([("Content-Security-Policy", "default-src 'self'; script-src 'self'")]), body: Self.page)
        }
        var nonces: [String] = []
        for _ in 0..<2 {
            let response = try await rig.gatehouse.request("GET", "/")
            let policy = try #require(response.header("content-security-policy"))
            let nonce = String(try #require(policy.split(separator: "'").first { $0.hasPrefix("nonce-") }).dropFirst(6))
            #expect(policy == "default-src 'self'; script-src 'self' 'nonce-\(nonce)'")
            #expect(response.text.contains("<head><script data-gatehouse nonce=\"\(nonce)\">window.__MIXPEEK__="))
            #expect(response.text.contains("<script data-gatehouse nonce=\"\(nonce)\" src=\"/_auth/sdk.js\"></script><title>"))
            #expect(response.header("content-length") == "\(response.body.count)")
            nonces.append(nonce)
        }
        #expect(nonces[0] != nonces[1])
        await rig.stop()
    }

    @Test func headRangesRevalidationsOtherTypesAndTheAPIPassByteForByte() async throws {
        let rig = try await Self.start { request in
            switch request.path {
            case "/partial": return .fixed(status: .partialContent, headers: Self.html([("Content-Range", "bytes 0-9/100")]), body: "<head>0123")
            case "/cached": return .fixed(status: .notModified, headers: Self.html([("ETag", "\"e\"")]), body: "")
            case "/notes.txt": return .fixed(headers: [("Content-Type", "text/plain"), ("ETag", "\"t\"")], body: "<html><head>")
            case "/broken": return .bytes(headers: Self.html([("Content-Encoding", "br")]), body: [0x0B, 0x02, 0x80, 0x3C, 0x68])
            default: return .fixed(headers: Self.html([("ETag", "\"p\"")]), body: Self.page)
            }
        }
        let head = try await rig.gatehouse.request("HEAD", "/")
        #expect(head.status == 200)
        #expect(head.header("content-length") == "\(Self.page.utf8.count)")
        #expect(head.header("etag") == "\"p\"")

        let partial = try await rig.gatehouse.request("GET", "/partial", headers: [("Range", "bytes=0-9")])
        #expect(partial.status == 206)
        #expect(partial.text == "<head>0123")

        let cached = try await rig.gatehouse.request("GET", "/cached", headers: [("If-None-Match", "\"e\"")])
        #expect(cached.status == 304)
        #expect(cached.header("etag") == "\"e\"")

        let notes = try await rig.gatehouse.request("GET", "/notes.txt")
        #expect(notes.text == "<html><head>")
        #expect(notes.header("etag") == "\"t\"")

        let brotli = try await rig.gatehouse.request("GET", "/broken")
        #expect(brotli.body == [0x0B, 0x02, 0x80, 0x3C, 0x68])

        let api = try await rig.gatehouse.request("GET", "/_api/page", headers: TransportRig.bearer + [("Accept-Encoding", "br, gzip")])
        #expect(api.status == 200)
        #expect(api.text == Self.page)
        #expect(api.header("etag") == "\"p\"")
        #expect(rig.api.requests.first?.values("Accept-Encoding") == ["br, gzip"])
        await rig.stop()
    }

    @Test func injectionCanBeTurnedOff() async throws {
        let rig = try await Self.start(configure: { $0.apps[0].inject.enabled = false }) { _ in .fixed(headers: Self.html(), body: Self.page) }
        let response = try await rig.gatehouse.request("GET", "/", headers: [("Accept-Encoding", "br")])
        #expect(response.text == Self.page)
        #expect(rig.app.requests.first?.values("Accept-Encoding") == ["br"])
        await rig.stop()
    }

    @Test func aLargeDocumentStreamsThroughInjected() async throws {
        let filler = String(repeating: "<p>0123456789abcdef</p>\n", count: 5 << 20 / 24)
        let page = Array(("<html><head><title>big</title></head><body>" + filler + "</body></html>").utf8)
        let rig = try await Self.start { _ in .bytes(headers: Self.html(), body: page) }
        let response = try await rig.gatehouse.request("GET", "/big")
        let at = Array("<html><head>".utf8).count
        let expected = Array(page[..<at]) + Array(rig.tags.utf8) + Array(page[at...])
        #expect(response.body.count == expected.count)
        #expect(response.body == expected)
        await rig.stop()
    }

    @Test func anInjectedResponseLeavesTheConnectionReusable() async throws {
        let rig = try await Self.start { _ in .fixed(headers: Self.html(), body: Self.page) }
        let connection = try await RawConnection.connect(port: rig.gatehouse.port)
        let expected = Self.inserting(rig.tags, into: Self.page, after: "<head>")
        try await connection.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await connection.readResponse().body == expected)
        #expect(try await connection.readResponse().body == expected)
        await connection.close()
        await rig.stop()
    }
}
