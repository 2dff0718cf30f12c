import CZlib
import GatehouseCore
@_spi(Benchmarks) @testable import GatehouseProxy
import NIOCore
import NIOHTTP1
import Testing

/// Tier 1: the head-only decision whether the injector takes a response over, and the
/// mark that keeps chained Gatehouse from injecting twice (no network).
@Suite struct HTMLInjectionDecisionTests {
    static func head(_ headers: [(String, String)], status: HTTPResponseStatus = .ok) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(headers))
    }

    static let html = ("Content-Type", "text/html; charset=utf-8")

    @Test(arguments: [
        ([html], HTMLInjectionDecision.rewrite(nil)),
        ([("content-type", "TEXT/HTML")], .rewrite(nil)),
        ([html, ("Content-Encoding", "gzip")], .rewrite(.gzip)),
        ([html, ("Content-Encoding", "x-gzip")], .rewrite(.gzip)),
        ([html, ("Content-Encoding", "deflate")], .rewrite(.deflate)),
        ([html, ("Content-Encoding", "identity")], .rewrite(nil)),
        ([("Content-Type", "text/plain")], .pass(.notHTML)),
        ([], .pass(.notHTML)),
        ([("Content-Type", "text/html-sandboxed")], .pass(.notHTML)),
        ([html, ("Content-Range", "bytes 0-9/100")], .pass(.range)),
        ([html, ("Content-Encoding", "br")], .pass(.undecodableCoding)),
        ([html, ("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")], .pass(.undecodableCoding)),
        ([html, ("Content-Encoding", "gzip, br")], .pass(.undecodableCoding)),
        ([html, ("Content-Encoding", "identity, gzip")], .pass(.undecodableCoding)),
        // Empty list elements do not count (RFC 9110 §5.6.1): an empty field beside a gzip
        // one is gzip (it was read as identity, and the gzip bytes scanned as HTML).
        ([html, ("Content-Encoding", ""), ("Content-Encoding", "gzip")], .rewrite(.gzip)),
        ([html, ("Content-Encoding", "gzip"), ("Content-Encoding", " ")], .rewrite(.gzip)),
        ([html, ("Content-Encoding", " , GZIP ,")], .rewrite(.gzip)),
        ([html, ("Content-Encoding", ",")], .rewrite(nil)),
        ([html, ("content-range", "bytes 0-9/100"), ("Content-Encoding", "gzip")], .pass(.range)),
        ([("Content-Type", "text/plain"), html], .pass(.notHTML)),
    ] as [([(String, String)], HTMLInjectionDecision)])
    func anUnmarkedResponse(headers: [(String, String)], expected: HTMLInjectionDecision) {
        #expect(HTMLInjectionDecision(Self.head(headers)) == expected)
    }

    /// The body's length the injector grows by the snippet: one field of digits only;
    /// anything else and the injected page goes chunked.
    @Test(arguments: [
        ([("Content-Length", "20359")], 20359 as Int?),
        ([("content-length", " 12\t")], 12),
        ([("Content-Length", "0")], 0),
        ([("Content-Length", "5"), ("Content-Length", "5")], nil),
        ([("Content-Length", "5, 5")], nil),
        ([("Content-Length", "+5")], nil),
        ([("Content-Length", "-1")], nil),
        ([("Content-Length", "")], nil),
        ([("Content-Length", "99999999999999999999999")], nil),
        ([], nil),
    ] as [([(String, String)], Int?)])
    func theBodyLength(headers: [(String, String)], expected: Int?) {
        #expect(HTMLResponseFields(HTTPHeaders(headers)).contentLength == expected)
    }

    @Test(arguments: [HTTPResponseStatus.partialContent, .notModified, .notFound, .internalServerError, .created])
    func onlyA200IsInjected(status: HTTPResponseStatus) {
        #expect(HTMLInjectionDecision(Self.head([Self.html], status: status)) == .pass(.notOK))
    }

    @Test func anInterimResponseIsNotTheOneThatCounts() {
        #expect(HTMLInjectionDecision(Self.head([("Link", "</a.css>; rel=preload")], status: .custom(code: 103, reasonPhrase: "Early Hints"))) == .pass(.interim))
    }

    @Test(arguments: ["X-Gatehouse-Injected", "x-gatehouse-injected", "X-GATEHOUSE-INJECTED"], ["1", "", "yes"])
    func aMarkedResponseIsLeftAlone(name: String, value: String) {
        for extra in [[], [("Content-Encoding", "gzip")], [("Content-Security-Policy", "script-src 'self'")]] {
            #expect(HTMLInjectionDecision(Self.head([Self.html, (name, value)] + extra)) == .pass(.alreadyInjected))
        }
    }

    @Test func lookAlikeFieldsAreNoMark() {
        for name in ["X-Gatehouse-Injected-By", "X-Gatehouse-Inject", "X_Gatehouse_Injected", "Gatehouse-Injected"] {
            #expect(HTMLInjectionDecision(Self.head([Self.html, (name, "1")])) == .rewrite(nil), "\(name)")
        }
    }

    // MARK: - The rewriter marks what it injects, and only that

    static let page = Array("<!DOCTYPE html><html><head><title>t</title></head><body>b</body></html>".utf8)

    @Test(arguments: ["identity", "gzip"])
    func anInjectedResponseCarriesTheMark(coding: String) throws {
        let body = coding == "gzip" ? try Zlib.compress(Self.page, .gzip) : Self.page
        let headers = coding == "gzip" ? [Self.html, ("Content-Encoding", "gzip")] : [Self.html]
        let out = try HTMLResponseRewriterTests.rewrite(Self.head(headers + [("ETag", "\"e\"")]), body, chunk: 7)
        let head = try #require(out.head)
        #expect(head.headers[HTMLInjectionDecision.markerField] == ["1"])
        #expect(head.headers["ETag"] == ["W/\"e\""])
        // What the next Gatehouse in a row decides about it.
        #expect(HTMLInjectionDecision(head) == .pass(.alreadyInjected))
    }

    @Test(arguments: ["identity", "gzip"])
    func aMarkedResponseComesOutByteForByteWithItsHead(coding: String) throws {
        let injected = Array("<html><head><script data-gatehouse nonce=\"n1\">x</script></head></html>".utf8)
        let body = coding == "gzip" ? try Zlib.compress(injected, .gzip) : injected
        var headers = [Self.html, ("X-Gatehouse-Injected", "1"), ("ETag", "W/\"e\""), ("Content-Length", "\(body.count)"),
                       ("Content-Security-Policy", "script-src 'self' 'nonce-n1'")]
        if coding == "gzip" { headers.append(("Content-Encoding", "gzip")) }
        let head = Self.head(headers)
        let out = try HTMLResponseRewriterTests.rewrite(head, body, chunk: 5)
        #expect(!out.engaged)
        #expect(out.head == head)
        #expect(out.body == body)
    }

    @Test func aDocumentLeftAloneForItsBodyMarkerGetsNoMark() throws {
        let marked = Array("<html><head><script data-gatehouse>window.__MIXPEEK__={}</script></head></html>".utf8)
        let head = Self.head([Self.html])
        let out = try HTMLResponseRewriterTests.rewrite(head, marked, chunk: 9)
        #expect(out.engaged)
        #expect(out.head == head)
        #expect(out.body == marked)
    }

    @Test func aMarkAtTheEdgeOfTheSearchWindowIsNoLongerMissed() throws {
        // `<head>` ends 8 bytes before the window does: the snippet an earlier Gatehouse put
        // there starts inside the window but its marker attribute ends outside it.
        let limit = 256
        let prefix = "<html><!--" + String(repeating: "x", count: limit - 8 - 19) + "--><head>"
        #expect(prefix.utf8.count == limit - 8)
        let app = HTMLResponseRewriterTests.app
        let tags = InjectionSnippet(app: app).tags(nonce: nil)
        let once = Array((prefix + tags + "<title>t</title></head></html>").utf8)
        let marked = try HTMLResponseRewriterTests.rewrite(Self.head([Self.html, ("X-Gatehouse-Injected", "1")]), once, chunk: 64, searchLimit: limit)
        #expect(marked.body == once)
    }

    /// The media type before any parameter, case-insensitively, spaces and tabs around it
    /// ignored; anything longer, shorter or different is not HTML.
    @Test func htmlIsTheMediaTypeBeforeAnyParameter() {
        for yes in ["text/html", "TEXT/HTML", "Text/Html; charset=utf-8", " text/html ;x", "\ttext/html\t", "text/html;", "text/html ; q=1"] {
            #expect(HTMLInjectionDecision.isHTML(yes), "\(yes)")
        }
        for no in [nil, "", ";", "text/htm", "text/htmlx", "text/html-sandboxed", "xtext/html", "text/ html", "text/plain; x=text/html",
                   "application/xhtml+xml", "text/h\u{0130}ml", "text/html\u{0}", "t;ext/html"] as [String?] {
            #expect(!HTMLInjectionDecision.isHTML(no), "\(String(describing: no))")
        }
    }

    /// A page's length is read only from a `Content-Length` of digits that fit an `Int`.
    @Test func contentLengthIsDigitsOnly() {
        let cases: [(String, Int?)] = [
            ("0", 0), ("20359", 20359), (" 42\t", 42), ("007", 7), ("9223372036854775807", Int.max),
            ("9223372036854775808", nil), ("99999999999999999999", nil), ("", nil), ("  ", nil), ("+1", nil), ("-1", nil),
            ("1a", nil), ("1 2", nil), ("0x10", nil), ("١٢", nil), ("1,2", nil),
        ]
        for (value, expected) in cases {
            #expect(HTMLResponseFields.contentLength(value) == expected, "\(value)")
        }
    }
}
