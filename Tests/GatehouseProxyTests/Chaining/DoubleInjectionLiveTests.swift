import Foundation
import GatehouseCore
@testable import GatehouseProxy
import GatehouseTesting
import Testing

/// Live: two Gatehouse in a row (outer → inner → app) inject the SDK once (SPEC "HTML
/// injection": "not already injected …, so chained sidecars inject once").
///
/// The inner one (next to the app) injects and marks its response `X-Gatehouse-Injected`;
/// the outer one passes a marked response on untouched: same bytes, same
/// `Content-Length`, `ETag` and `Content-Security-Policy` (one nonce, the inner's). The
/// browser talks to the outer one, which answers `/_auth/sdk.js` itself.
@Suite struct DoubleInjectionLiveTests {
    struct Chain {
        let app: TestHTTPServer
        let inner: TestGatehouse
        let outer: TestGatehouse

        func stop() async {
            await outer.stop()
            await inner.stop()
            await app.stop()
        }
    }

    /// The app serves `page(path)`; each Gatehouse has its own app id, so whose snippet
    /// landed in the page is visible.
    static func start(_ page: @escaping @Sendable (RecordedRequest) -> TestResponse) async throws -> Chain {
        let app = try await TestHTTPServer.start(responder: page)
        let inner: TestGatehouse
        do {
            inner = try await TransportRig.start(app: app.url, api: "http://127.0.0.1:1") { $0.apps[0].id = "app_inner" }
        } catch {
            await app.stop()
            throw error
        }
        do {
            let outer = try await TransportRig.start(app: "http://127.0.0.1:\(inner.port)", api: "http://127.0.0.1:1") { $0.apps[0].id = "app_outer" }
            return Chain(app: app, inner: inner, outer: outer)
        } catch {
            await inner.stop()
            await app.stop()
            throw error
        }
    }

    static let page = "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Home</title></head><body><h1>Hi</h1></body></html>\n"

    /// A page whose `<head>` ends 8 bytes before the injector's 64 KiB window does: the
    /// inner one injects there, and the outer one's window ends inside the inner one's
    /// `<script data-gatehouse` — the body marker alone cannot be seen.
    static let pageWithHeadAtTheWindowsEnd: String = {
        let start = "<!DOCTYPE html><html><!--"
        let end = "--><head>"
        let fill = HTMLInjectionStateMachine.defaultSearchLimit - 8 - start.utf8.count - end.utf8.count
        return start + String(repeating: "x", count: fill) + end + "<title>Edge</title></head><body>edge</body></html>"
    }()

    static func html(_ extra: [(String, String)] = []) -> [(String, String)] {
        [("Content-Type", "text/html; charset=utf-8")] + extra
    }

    /// Exactly one snippet, the inner app's, right after `<head>`.
    static func expectInjectedOnce(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(ChainRig.occurrences(of: "<script", in: text) == 2, sourceLocation: sourceLocation)
        #expect(ChainRig.occurrences(of: "<script data-gatehouse", in: text) == 2, sourceLocation: sourceLocation)
        #expect(ChainRig.occurrences(of: "window.__MIXPEEK__=", in: text) == 1, sourceLocation: sourceLocation)
        #expect(ChainRig.occurrences(of: "src=\"/_auth/sdk.js\"", in: text) == 1, sourceLocation: sourceLocation)
        #expect(text.contains(#"{"appId":"app_inner""#), sourceLocation: sourceLocation)
        #expect(!text.contains("app_outer"), sourceLocation: sourceLocation)
        #expect(text.contains("<head><script data-gatehouse"), sourceLocation: sourceLocation)
    }

    @Test(arguments: ["plain", "head at the window's end"])
    func anInjectedPagePassesTheOuterGatehouseUntouched(kind: String) async throws {
        let page = kind == "plain" ? Self.page : Self.pageWithHeadAtTheWindowsEnd
        let chain = try await Self.start { _ in .fixed(headers: Self.html([("ETag", "\"abc\"")]), body: page) }
        let direct = try await chain.inner.request("GET", "/")
        let chained = try await chain.outer.request("GET", "/")
        #expect(direct.status == 200 && chained.status == 200)
        Self.expectInjectedOnce(chained.text)
        #expect(chained.body == direct.body)
        #expect(chained.header("content-length") == direct.header("content-length"))
        #expect(chained.header("content-length") == "\(chained.body.count)")
        #expect(chained.header("etag") == "W/\"abc\"")
        #expect(chained.header("x-gatehouse-injected") == "1")
        #expect(chained.headerValues("x-gatehouse-injected").count == 1)
        await chain.stop()
    }

    @Test(arguments: ["gzip", "deflate"])
    func aCompressedInjectedPagePassesTheOuterGatehouseUntouched(coding: String) async throws {
        let compressed = try Zlib.compress(Array(Self.pageWithHeadAtTheWindowsEnd.utf8), coding == "gzip" ? .gzip : .deflate)
        let chain = try await Self.start { _ in
            .bytes(headers: Self.html([("Content-Encoding", coding), ("ETag", "\"z1\""), ("Vary", "Accept-Encoding")]), body: compressed)
        }
        let chained = try await chain.outer.request("GET", "/", headers: [("Accept-Encoding", "br, \(coding)")])
        #expect(chained.status == 200)
        #expect(chained.header("content-encoding") == coding)
        #expect(chained.header("etag") == "W/\"z1\"")
        #expect(chained.header("content-length") == "\(chained.body.count)")
        #expect(chained.header("x-gatehouse-injected") == "1")
        let text = String(decoding: try Zlib.decompress(chained.body), as: UTF8.self)
        Self.expectInjectedOnce(text)
        // Only the codings both can decode were asked for, all the way to the app.
        #expect(chain.app.requests.first?.values("Accept-Encoding") == [coding])
        await chain.stop()
    }

    @Test func aContentSecurityPolicyGetsOneNonce() async throws {
        let chain = try await Self.start { _ in
            .fixed(headers: Self.html([("Content-Security-Policy", "default-src 'self'; script-src 'self'")]), body: Self.pageWithHeadAtTheWindowsEnd)
        }
        let chained = try await chain.outer.request("GET", "/")
        let policies = chained.headerValues("content-security-policy")
        try #require(policies.count == 1)
        #expect(ChainRig.occurrences(of: "'nonce-", in: policies[0]) == 1)
        let nonce = String(try #require(policies[0].split(separator: "'").first { $0.hasPrefix("nonce-") }).dropFirst(6))
        #expect(policies[0] == "default-src 'self'; script-src 'self' 'nonce-\(nonce)'")
        Self.expectInjectedOnce(chained.text)
        #expect(ChainRig.occurrences(of: "<script data-gatehouse nonce=\"\(nonce)\"", in: chained.text) == 2)
        #expect(chained.header("content-length") == "\(chained.body.count)")
        await chain.stop()
    }

    @Test func theOuterGatehouseServesTheSDKThePageLoads() async throws {
        let chain = try await Self.start { _ in .fixed(headers: Self.html(), body: Self.page) }
        let chained = try await chain.outer.request("GET", "/")
        Self.expectInjectedOnce(chained.text)
        // The page asks its origin — the outer Gatehouse — for the SDK; it answers itself.
        let sdk = try await chain.outer.request("GET", "/_auth/sdk.js")
        #expect(sdk.status == 200)
        #expect(sdk.header("content-type") == "application/javascript; charset=utf-8")
        #expect(sdk.text.contains("window.MixpeekAuth"))
        #expect(sdk.header("x-gatehouse-injected") == nil)
        #expect(chain.app.requests.map(\.path) == ["/"])
        await chain.stop()
    }

    @Test func aPageThatCarriesTheSnippetItselfIsInjectedByNeither() async throws {
        // The body marker still counts (an app that loads the SDK itself, or an older
        // Gatehouse behind): no one injects, and no one marks what it did not inject.
        let page = "<html><head><script data-gatehouse>window.__MIXPEEK__={}</script></head></html>"
        let chain = try await Self.start { _ in .fixed(headers: Self.html([("ETag", "\"s\"")]), body: page) }
        let chained = try await chain.outer.request("GET", "/")
        #expect(chained.text == page)
        #expect(chained.header("etag") == "\"s\"")
        #expect(chained.header("x-gatehouse-injected") == nil)
        await chain.stop()
    }
}
