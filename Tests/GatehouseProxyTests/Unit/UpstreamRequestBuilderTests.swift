import GatehouseCore
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@_spi(Benchmarks) @testable import GatehouseProxy

/// The upstream head is written as bytes in the header pass (``UpstreamRequestBuilder``),
/// framed there: it must be what the encoder would write for the head it stands for, and
/// fit the room it sizes from the client's fields however they are rewritten.
@Suite struct UpstreamRequestBuilderTests {
    static let methods: [HTTPMethod] = [.GET, .POST, .PUT, .PATCH, .DELETE, .HEAD, .OPTIONS, .TRACE, .RAW(value: "PROPFIND")]
    static let framings: [[(String, String)]] = [
        [], [("Content-Length", "5")], [("Content-Length", "0")], [("Transfer-Encoding", "chunked")], [("transfer-encoding", "Chunked")],
    ]
    static let others: [[(String, String)]] = [
        [("Host", "app.test")],
        [("Host", "app.test"), ("Accept-Encoding", "br, gzip"), ("Cookie", "__session=t; k=v"), ("Authorization", "Bearer u"),
         ("X-Forwarded-For", "6.6.6.6"), ("Connection", "keep-alive, X-Drop"), ("X-Drop", "1"), ("Expect", "100-continue"),
         ("X-Gatehouse-User", "evil"), ("X-Request-Id", "client")],
        [("X-Drop", "1"), ("Host", "app.test"), ("Connection", "X-Drop, content-length, transfer-encoding"), ("Accept-Encoding", "zstd")],
    ]

    static func app(extra: [HeaderField] = []) throws -> AppConfiguration {
        let upstream = try #require(UpstreamURL(parsing: "http://127.0.0.1:9999/base"))
        return AppConfiguration(
            id: "app_1", org: "org_1", upstream: upstream, api: APIConfiguration(upstream: upstream, extraHeaders: extra, ownerKey: Secret("owner")))
    }

    /// Every route's head, for every method and framing: the parsed head, encoded by the
    /// upstream encoder, gives the same bytes and the same framing — the builder frames as
    /// the encoder does, and writes what an `HTTPHeaders` of its fields would be.
    @Test func theHeadIsWhatTheEncoderWritesForIt() throws {
        let app = try Self.app(extra: [HeaderField(name: "X-Namespace", value: "ns_1")])
        let rewrite = UpstreamRequestBuilder.APIRewrite(app: app)
        var chunked = 0, lengths = 0, neither = 0
        for method in Self.methods {
            for framing in Self.framings {
                for other in Self.others {
                    let head = HTTPRequestHead(version: .http1_1, method: method, uri: "/_api/v1/x?q=1", headers: HTTPHeaders(other + framing))
                    let target = try PathNormalizer.normalize(head.uri).get()
                    for trusted in [false, true] {
                        let inbound = UpstreamRequestBuilder.Inbound(head: head, target: target, peer: "10.0.0.1", peerTrusted: trusted, requestID: "rid")
                        let built = [
                            UpstreamRequestBuilder.apiRequest(inbound, app: app, rewrite: rewrite, user: "user_1", into: ByteBuffer()),
                            UpstreamRequestBuilder.appRequest(inbound, upstream: app.upstream, narrowAcceptEncoding: false, into: ByteBuffer()),
                            UpstreamRequestBuilder.appRequest(inbound, upstream: app.upstream, narrowAcceptEncoding: true, into: ByteBuffer()),
                        ]
                        for request in built {
                            let parsed = try request.parsed()
                            #expect(parsed.method == method)
                            #expect(parsed.uri == request.uri)
                            let encoded = try UpstreamRequestEncoderTests.encode([.head(parsed)], with: UpstreamRequestEncoder(), promises: false)
                            #expect(encoded == [Array(request.head.readableBytesView)], "\(method) \(framing) \(other)")
                            #expect(UpstreamRequestEncoderTests.framing(parsed) == request.framing, "\(method) \(framing) \(other)")
                            switch request.framing {
                            case .chunked: chunked += 1
                            case .contentLength: lengths += 1
                            case .neither: neither += 1
                            }
                        }
                    }
                }
            }
        }
        #expect(chunked > 0 && lengths > 0 && neither > 0)
    }

    /// How each body goes: a declared length stands; a chunked body is re-chunked under
    /// Gatehouse's own field whatever the client's spelling; a method with a body and no
    /// length goes chunked; a TRACE and a bodiless GET carry no framing at all.
    @Test func framingByMethodAndFields() throws {
        func built(_ method: HTTPMethod, _ fields: [(String, String)]) throws -> (HTTPBodyFraming, HTTPHeaders) {
            let head = HTTPRequestHead(version: .http1_1, method: method, uri: "/p", headers: HTTPHeaders([("Host", "h")] + fields))
            let inbound = UpstreamRequestBuilder.Inbound(head: head, target: RequestTarget(path: "/p", query: nil), peer: nil, peerTrusted: false, requestID: "r")
            let request = UpstreamRequestBuilder.appRequest(inbound, upstream: try #require(UpstreamURL(parsing: "http://u:1")), narrowAcceptEncoding: false, into: ByteBuffer())
            return (request.framing, try request.parsed().headers)
        }
        let get = try built(.GET, [("Transfer-Encoding", "Chunked")])
        #expect(get.0 == .chunked)
        #expect(get.1["transfer-encoding"] == ["chunked"])
        let post = try built(.POST, [])
        #expect(post.0 == .chunked)
        #expect(post.1["transfer-encoding"] == ["chunked"])
        let length = try built(.PUT, [("Content-Length", "5")])
        #expect(length.0 == .contentLength)
        #expect(length.1["content-length"] == ["5"])
        #expect(!length.1.contains(name: "transfer-encoding"))
        let trace = try built(.TRACE, [("Content-Length", "5")])
        #expect(trace.0 == .neither)
        #expect(!trace.1.contains(name: "content-length"))
        let bare = try built(.GET, [])
        #expect(bare.0 == .neither)
        #expect(!bare.1.contains(name: "transfer-encoding") && !bare.1.contains(name: "content-length"))
    }

    /// The room is sized from the client's fields before they are walked: whatever is kept,
    /// merged or set must fit (a miscount traps in the writer). Long values, many fields, a
    /// `Connection` that restarts the pass, merged cookies and forwarded chains, narrowed
    /// codings that grow (`gzip,deflate` → `gzip, deflate`) and credentials that are replaced.
    @Test func everyRewriteFitsTheRoomItSized() throws {
        let long = String(repeating: "v", count: 700)
        var fields: [(String, String)] = [("Host", "app.test")]
        for i in 0..<40 { fields.append(("X-Field-\(i)", long)) }
        fields += [
            ("Cookie", "a=1"), ("Cookie", "b=2"), ("Cookie", "c=3"), ("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "2.2.2.2"),
            ("Accept-Encoding", "gzip,deflate"), ("Accept-Encoding", "br"), ("Accept-Encoding", "x-gzip"), ("Authorization", "B"),
            ("Connection", "X-Field-3"), ("Upgrade", "websocket"), ("Connection", "upgrade"),
        ]
        let app = try Self.app(extra: (0..<5).map { HeaderField(name: "X-Extra-\($0)", value: long) })
        let rewrite = UpstreamRequestBuilder.APIRewrite(app: app)
        for count in [0, 1, 2, fields.count] {
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/_api/" + long, headers: HTTPHeaders(Array(fields.prefix(count))))
            for trusted in [false, true] {
                for webSocket in [false, true] {
                    let inbound = UpstreamRequestBuilder.Inbound(
                        head: head, target: RequestTarget(path: "/_api/" + long, query: nil), peer: "203.0.113.77", peerTrusted: trusted,
                        requestID: RequestID(String(repeating: "r", count: 128)), webSocketUpgrade: webSocket)
                    for request in [
                        UpstreamRequestBuilder.apiRequest(inbound, app: app, rewrite: rewrite, user: long, into: ByteBuffer()),
                        UpstreamRequestBuilder.appRequest(inbound, upstream: app.upstream, narrowAcceptEncoding: true, into: ByteBuffer()),
                    ] {
                        let parsed = try request.parsed()
                        #expect(parsed.headers["x-request-id"].count == 1)
                        if count == fields.count {
                            #expect(!parsed.headers.contains(name: "x-field-3"))
                            #expect(parsed.headers["x-field-39"] == [long])
                        }
                    }
                }
            }
        }
        // The narrowed codings, longer than the client's, in one field.
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: HTTPHeaders([("Host", "a"), ("Accept-Encoding", "gzip,deflate"), ("Accept-Encoding", "br")]))
        let inbound = UpstreamRequestBuilder.Inbound(head: head, target: RequestTarget(path: "/", query: nil), peer: nil, peerTrusted: false, requestID: "r")
        let narrowed = try UpstreamRequestBuilder.appRequest(inbound, upstream: app.upstream, narrowAcceptEncoding: true, into: ByteBuffer()).parsed()
        #expect(narrowed.headers["accept-encoding"] == ["gzip, deflate"])
    }

    /// The head goes into the buffer it is given (the loop's spare), not a fresh one.
    @Test func theHeadIsWrittenIntoTheGivenBuffer() throws {
        let spare = ByteBufferAllocator().buffer(capacity: 4096)
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a"])
        let inbound = UpstreamRequestBuilder.Inbound(head: head, target: RequestTarget(path: "/", query: nil), peer: nil, peerTrusted: false, requestID: "r")
        let request = UpstreamRequestBuilder.appRequest(inbound, upstream: try #require(UpstreamURL(parsing: "http://u:1")), narrowAcceptEncoding: false, into: spare)
        #expect(request.head.capacity == 4096)
        #expect(String(buffer: request.head) == "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: unknown\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\nX-Request-Id: r\r\n\r\n")
    }
}
