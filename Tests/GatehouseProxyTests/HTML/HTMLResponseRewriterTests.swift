import CZlib
import GatehouseCore
@_spi(Benchmarks) @testable import GatehouseProxy
import NIOCore
import NIOHTTP1
import Testing

/// Compression helpers for the HTML tests: zlib, as an app server compresses, and the
/// injector's own decoder.
enum Zlib {
    /// At `level` (zlib's default, as app servers compress; 9 for a bomb, as an attacker
    /// makes one).
    static func compress(_ bytes: [UInt8], _ coding: HTTPContentCoding, level: Int32 = 6) throws -> [UInt8] {
        var stream = z_stream()
        let windowBits: Int32 = coding == .gzip ? 15 + 16 : 15
        guard CZlib_deflateInit2(&stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY) == Z_OK else { throw ZlibError() }
        defer { deflateEnd(&stream) }
        var input = bytes
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
        let result = input.withUnsafeMutableBufferPointer { inBytes in
            out.withUnsafeMutableBufferPointer { outBytes in
                stream.next_in = inBytes.baseAddress
                stream.avail_in = UInt32(inBytes.count)
                stream.next_out = outBytes.baseAddress
                stream.avail_out = UInt32(outBytes.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard result == Z_STREAM_END else { throw ZlibError() }
        return Array(out[..<Int(stream.total_out)])
    }

    struct ZlibError: Error {}

    static func decompress(_ bytes: [UInt8]) throws -> [UInt8] {
        let inflater = ZlibInflater()
        var input = ByteBuffer(bytes: bytes)
        var out = ByteBuffer()
        while try inflater.inflate(&input, into: &out, limit: 64 * 1024) == .outputFull {}
        return Array(out.readableBytesView)
    }
}

/// Tier 1: the glue that decides from the head, decodes, injects and re-encodes.
@Suite struct HTMLResponseRewriterTests {
    static let app = InjectionSnippetTests.app(id: "app_rw")
    static var tags: String { InjectionSnippet(app: app).tags(nonce: nil) }

    static func head(_ headers: [(String, String)], status: HTTPResponseStatus = .ok) -> HTTPResponseHead {
        HTTPResponseHead(version: .http1_1, status: status, headers: HTTPHeaders(headers))
    }

    /// Runs `body` through a rewriter in `chunk`-sized pieces; returns the head written
    /// and the body bytes.
    static func rewrite(_ head: HTTPResponseHead, _ body: [UInt8], chunk: Int, searchLimit: Int = HTMLInjectionStateMachine.defaultSearchLimit) throws
        -> (head: HTTPResponseHead?, body: [UInt8], engaged: Bool) {
        let rewriter = HTMLResponseRewriter(app: app, searchLimit: searchLimit)
        let engaged = rewriter.responseHead(head)
        var written: HTTPResponseHead? = engaged ? nil : head
        var out: [UInt8] = []
        func take(_ output: HTMLResponseRewriter.Output) {
            if let h = output.head {
                #expect(written == nil, "head written twice")
                written = h
            }
            for b in [output.body, output.rest].compactMap({ $0 }) {
                #expect(written != nil, "body before head")
                out += b.readableBytesView
            }
        }
        var start = 0
        while start < body.count {
            let end = min(body.count, start + chunk)
            take(try rewriter.bodyReceived(ByteBuffer(bytes: body[start..<end])))
            start = end
        }
        take(try rewriter.bodyEnded())
        return (written, out, engaged)
    }

    static let page = Array("<!DOCTYPE html><html><head><title>t</title></head><body>\(String(repeating: "<p>hello</p>", count: 2000))</body></html>".utf8)
    static var injected: [UInt8] {
        let at = Array("<!DOCTYPE html><html><head>".utf8).count
        return Array(page[..<at]) + Array(tags.utf8) + Array(page[at...])
    }

    @Test(arguments: [HTTPContentCoding.gzip, .deflate], [1, 7, 512, 100_000])
    func compressedBodiesAreDecodedInjectedAndEncodedAgain(coding: HTTPContentCoding, chunk: Int) throws {
        let compressed = try Zlib.compress(Self.page, coding)
        let name = coding == .gzip ? "gzip" : "deflate"
        // Length known: the whole body arrives before the end only with the last chunk.
        let result = try Self.rewrite(Self.head([("Content-Type", "text/html"), ("Content-Encoding", name), ("Content-Length", "\(compressed.count)"), ("ETag", "\"v1\"")]), compressed, chunk: chunk)
        let head = try #require(result.head)
        #expect(try Zlib.decompress(result.body) == Self.injected)
        #expect(head.headers.first(name: "content-encoding") == name)
        #expect(head.headers.first(name: "etag") == "W/\"v1\"")
        if chunk >= compressed.count {
            #expect(head.headers.first(name: "content-length") == "\(result.body.count)")
        } else {
            #expect(!head.headers.contains(name: "content-length"))
            #expect(head.headers.first(name: "transfer-encoding") == "chunked")
        }
    }

    @Test func identityBodiesGetTheirLengthCorrected() throws {
        for chunk in [1, 30, 100_000] {
            let result = try Self.rewrite(Self.head([("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "\(Self.page.count)"), ("Accept-Ranges", "bytes")]), Self.page, chunk: chunk)
            let head = try #require(result.head)
            #expect(result.body == Self.injected)
            #expect(head.headers.first(name: "content-length") == "\(Self.injected.count)")
            #expect(!head.headers.contains(name: "accept-ranges"))
        }
    }

    @Test func rawDeflateIsAcceptedToo() throws {
        // RFC 1950 zlib format is a 2-byte header, raw RFC 1951 deflate, a 4-byte Adler-32.
        let wrapped = try Zlib.compress(Self.page, .deflate)
        let raw = Array(wrapped[2..<(wrapped.count - 4)])
        #expect(raw.first.map { $0 & 0x0F != 8 } == true)
        let result = try Self.rewrite(Self.head([("Content-Type", "text/html"), ("Content-Encoding", "deflate")]), raw, chunk: 300)
        #expect(try Zlib.decompress(result.body) == Self.injected)
    }

    @Test func nonInjectableResponsesAreNotTaken() {
        for head in [
            Self.head([("Content-Type", "text/html")], status: .partialContent),
            Self.head([("Content-Type", "text/html")], status: .notModified),
            Self.head([("Content-Type", "text/plain")]),
            Self.head([("Content-Type", "application/xhtml+xml")]),
            Self.head([]),
            Self.head([("Content-Type", "text/html"), ("Content-Encoding", "br")]),
            Self.head([("Content-Type", "text/html"), ("Content-Encoding", "gzip, gzip")]),
            Self.head([("Content-Type", "text/html"), ("Content-Range", "bytes 0-1/2")]),
        ] {
            #expect(!HTMLResponseRewriter(app: Self.app).responseHead(head), "\(head)")
        }
        // An interim response first does not use the rewriter up; a second final head does not engage it.
        let rewriter = HTMLResponseRewriter(app: Self.app)
        #expect(!rewriter.responseHead(Self.head([("Link", "</a.css>; rel=preload")], status: .init(statusCode: 103))))
        #expect(rewriter.responseHead(Self.head([("Content-Type", "text/html")])))
        #expect(!rewriter.responseHead(Self.head([("Content-Type", "text/html")])))
    }

    @Test func undecidedCompressedDocumentsPassThroughByteForByte() throws {
        // No tag within the first 64 KiB of inflated text: the upstream's bytes go out as they came.
        let text = Array(String(repeating: "plain text, no markup at all. ", count: 10_000).utf8)
        let compressed = try Zlib.compress(text, .gzip)
        let original = Self.head([("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Content-Length", "\(compressed.count)"), ("ETag", "\"v2\"")])
        let result = try Self.rewrite(original, compressed, chunk: 1000)
        #expect(result.head == original)
        #expect(result.body == compressed)

        // Already injected: the same.
        let marked = try Zlib.compress(Self.injected, .gzip)
        let again = try Self.rewrite(Self.head([("Content-Type", "text/html"), ("Content-Encoding", "gzip")]), marked, chunk: 64)
        #expect(again.body == marked)
        #expect(again.head?.headers.first(name: "content-encoding") == "gzip")
    }

    /// Re-encoded at the fastest level (igzip's 1; zlib's 1 is nginx's and HAProxy's
    /// on-the-fly default), what the stream's own header says: gzip's XFL 4, zlib's
    /// FLEVEL 0. Whatever level the upstream used (9 here).
    @Test(arguments: [HTTPContentCoding.gzip, .deflate])
    func pagesAreCompressedAgainAtTheFastestLevel(coding: HTTPContentCoding) throws {
        let compressed = try Zlib.compress(Self.page, coding, level: 9)
        let result = try Self.rewrite(
            Self.head([("Content-Type", "text/html"), ("Content-Encoding", coding == .gzip ? "gzip" : "deflate")]), compressed, chunk: 4096
        )
        #expect(try Zlib.decompress(result.body) == Self.injected)
        if coding == .gzip {
            #expect(compressed[8] == 2, "the upstream's: maximum compression")
            #expect(result.body[8] == 4, "XFL: fastest")
            #expect(Array(result.body.prefix(10)) == PageDeflater.gzipHeader)
        } else {
            #expect(compressed[1] >> 6 == 3)
            #expect(result.body[1] >> 6 == 0, "FLEVEL: fastest")
        }
    }

    /// A page of varied text that arrives whole is compressed again as small as zlib's
    /// level 1 would make the injected page (the encoder's first piece, the bytes up to
    /// `<head>`, once cost a block ~2.8 times that size).
    @Test(arguments: [HTTPContentCoding.gzip, .deflate])
    func aWholePageIsCompressedAgainAsSmallAsZlibsFastestLevel(coding: HTTPContentCoding) throws {
        let page = try #require(PageDeflaterTests.inputs.first { $0.0 == "page" }?.1)
        let compressed = try Zlib.compress(page, coding)
        let result = try Self.rewrite(
            Self.head([("Content-Type", "text/html"), ("Content-Encoding", coding == .gzip ? "gzip" : "deflate"), ("Content-Length", "\(compressed.count)")]),
            compressed, chunk: compressed.count
        )
        // Encoded at once, its length known.
        #expect(result.head?.headers.first(name: "content-length") == "\(result.body.count)")
        let injected = try Zlib.decompress(result.body)
        #expect(injected.count == page.count + Array(Self.tags.utf8).count)
        let zlibLevel1 = try Zlib.compress(injected, coding, level: 1)
        #expect(result.body.count * 100 <= zlibLevel1.count * 103, "\(result.body.count) against zlib's \(zlibLevel1.count)")
    }

    @Test func corruptCompressedBodiesPassThroughUnchanged() throws {
        let garbage: [UInt8] = [0x1F, 0x8B, 0x08, 0x00] + Array(repeating: 0xFF, count: 500)
        let original = Self.head([("Content-Type", "text/html"), ("Content-Encoding", "gzip")])
        let result = try Self.rewrite(original, garbage, chunk: 100)
        #expect(result.head == original)
        #expect(result.body == garbage)
    }

    @Test func aZipBombIsStopped() throws {
        // No tag: the state machine gives up after 64 KiB of inflated zeros and the
        // compressed bytes pass through without being inflated further.
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        let bomb = try Zlib.compress(zeros, .gzip, level: 9)
        #expect(bomb.count < 100_000)
        let passed = try Self.rewrite(Self.head([("Content-Type", "text/html"), ("Content-Encoding", "gzip")]), bomb, chunk: 16 * 1024)
        #expect(passed.body == bomb)

        // After `<head>`: inflating is cut off at the ratio limit.
        let armed = try Zlib.compress(Array("<html><head>".utf8) + zeros, .gzip, level: 9)
        #expect(throws: HTMLRewriteError.inflationLimit) {
            _ = try Self.rewrite(Self.head([("Content-Type", "text/html"), ("Content-Encoding", "gzip")]), armed, chunk: 16 * 1024)
        }
    }

    @Test func cspGetsANonceSharedWithBothTags() throws {
        let result = try Self.rewrite(Self.head([
            ("Content-Type", "text/html"),
            ("Content-Security-Policy", "default-src 'self'; script-src 'self'"),
            ("Content-Security-Policy-Report-Only", "script-src 'none'"),
        ]), Array("<html><head></head>".utf8), chunk: 5)
        let head = try #require(result.head)
        let policy = try #require(head.headers.first(name: "content-security-policy"))
        let nonce = try #require(policy.split(separator: "'").first { $0.hasPrefix("nonce-") }).dropFirst(6)
        #expect(policy == "default-src 'self'; script-src 'self' 'nonce-\(nonce)'")
        #expect(head.headers.first(name: "content-security-policy-report-only") == "script-src 'none' 'nonce-\(nonce)'")
        let text = String(decoding: result.body, as: UTF8.self)
        #expect(text.hasPrefix("<html><head><script data-gatehouse nonce=\"\(nonce)\">window.__MIXPEEK__="))
        #expect(text.contains("<script data-gatehouse nonce=\"\(nonce)\" src=\"/_auth/sdk.js\"></script></head>"))
    }

    /// The pages of a loop draw their nonces from its pool: forty pages with a policy cost
    /// three draws of random bytes (sixteen nonces each), not eighty system calls, and no
    /// two pages share a nonce.
    @Test func pagesShareTheLoopsRandomDrawsButNotTheirNonces() throws {
        let source = RandomBytePoolTests.CountingSource()
        let pool = RandomBytePool(source: source.fill)
        let snippet = InjectionSnippet(app: Self.app)
        var nonces = Set<String>()
        for _ in 0..<40 {
            let rewriter = HTMLResponseRewriter(snippet: snippet, nonces: pool)
            #expect(rewriter.responseHead(Self.head([("Content-Type", "text/html"), ("Content-Security-Policy", "script-src 'self'")])))
            let output = try rewriter.bodyReceived(ByteBuffer(string: "<html><head></head>"))
            let head = try #require(output.head)
            let policy = try #require(head.headers.first(name: "content-security-policy"))
            nonces.insert(String(try #require(policy.split(separator: "'").first { $0.hasPrefix("nonce-") })))
        }
        #expect(source.draws == 3)
        #expect(nonces.count == 40)
    }
}
