import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// Gatehouse's upstream request encoder replaces NIO's `HTTPRequestEncoder` for speed; the
/// bytes on the wire must be NIO's, part for part, whatever the head and framing — but for
/// a `Transfer-Encoding` that NIO misreads (``HTTPBodyFraming/endsInChunked(_:)``).
@Suite struct UpstreamRequestEncoderTests {
    static let longValue = String(repeating: "v", count: 700)

    static let heads: [HTTPRequestHead] = [
        HTTPRequestHead(version: .http1_1, method: .GET, uri: "/_api/hello?x=1", headers: [
            "Host": "upstream:8081", "Authorization": "Bearer sk_owner", "X-Request-Id": "0123456789abcdef",
            "X-Forwarded-For": "127.0.0.1", "Accept": "*/*", "X-Long": longValue,
        ]),
        HTTPRequestHead(version: .http1_1, method: .POST, uri: "/submit", headers: ["Host": "h"]),
        HTTPRequestHead(version: .http1_1, method: .POST, uri: "/submit", headers: ["Host": "h", "Content-Length": "5", "Transfer-Encoding": "chunked"]),
        HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/p", headers: ["Host": "h", "transfer-encoding": "gzip"]),
        HTTPRequestHead(version: .http1_1, method: .PATCH, uri: "/p", headers: ["Host": "h", "Content-Length": "3"]),
        HTTPRequestHead(version: .http1_1, method: .PATCH, uri: "/p", headers: ["Host": "h"]),
        HTTPRequestHead(version: .http1_1, method: .PUT, uri: "/p", headers: ["Host": "h"]),
        HTTPRequestHead(version: .http1_1, method: .DELETE, uri: "/d", headers: ["Host": "h", "Transfer-Encoding": "chunked"]),
        HTTPRequestHead(version: .http1_1, method: .GET, uri: "/g", headers: ["Host": "h", "Transfer-Encoding": "gzip"]),
        HTTPRequestHead(version: .http1_1, method: .TRACE, uri: "/t", headers: ["Host": "h", "Content-Length": "3", "Transfer-Encoding": "chunked"]),
        HTTPRequestHead(version: .http1_0, method: .POST, uri: "/old", headers: ["Host": "h"]),
        HTTPRequestHead(version: .http1_0, method: .GET, uri: "/old", headers: [:]),
        HTTPRequestHead(version: HTTPVersion(major: 2, minor: 0), method: .OPTIONS, uri: "*", headers: ["Host": "h"]),
        HTTPRequestHead(version: .http1_1, method: .RAW(value: "PROPFIND"), uri: "/ünïcode/%2F", headers: ["Host": "h", "X-Empty": "", "X-Utf8": "naïve"]),
        HTTPRequestHead(version: .http1_1, method: .HEAD, uri: "/", headers: ["Host": "h"]),
    ]

    static let bodies: [[HTTPClientRequestPart]] = [
        [.end(nil)],
        [.body(.byteBuffer(ByteBuffer(string: "hello"))), .end(nil)],
        [.body(.byteBuffer(ByteBuffer(string: String(repeating: "x", count: 4099)))), .body(.byteBuffer(ByteBuffer())), .body(.byteBuffer(ByteBuffer(string: "y"))), .end(nil)],
        [.body(.byteBuffer(ByteBuffer(string: "abc"))), .end(["X-Checksum": "1234", "X-Other": "o"])],
        [.end(["X-Trailer": "t"])],
    ]

    /// Each part's bytes from one encoder: what the socket would be handed, write by write
    /// (empty writes included, as they carry promises).
    static func encode(_ parts: [HTTPClientRequestPart], with encoder: ChannelHandler, promises: Bool) throws -> [[UInt8]] {
        let channel = EmbeddedChannel(handler: encoder)
        var futures: [EventLoopFuture<Void>] = []
        for part in parts {
            let promise: EventLoopPromise<Void>? = promises ? channel.eventLoop.makePromise() : nil
            if let promise { futures.append(promise.futureResult) }
            channel.write(part, promise: promise)
        }
        channel.flush()
        for future in futures { try future.wait() }
        var written: [[UInt8]] = []
        while let out = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = out else { Issue.record("file region"); continue }
            written.append(Array(buffer.readableBytesView))
        }
        _ = try channel.finish()
        return written
    }

    /// How NIO (and Gatehouse) frame `head`'s body.
    static func framing(_ head: HTTPRequestHead) -> HTTPBodyFraming {
        var headers = head.headers
        return HTTPBodyFraming.frame(&headers, version: head.version, body: UpstreamRequestEncoder.bodyExpectation(head.method)).framing
    }

    @Test func writesWhatNIOsEncoderWritesForEveryHeadAndBody() throws {
        for head in Self.heads {
            for body in Self.bodies {
                // Bytes without framing are refused (next test), where NIO writes them bare.
                if Self.framing(head) == .neither, body.contains(where: { if case .body(let b) = $0 { b.readableBytes > 0 } else { false } }) { continue }
                for promises in [false, true] {
                    let parts = [HTTPClientRequestPart.head(head)] + body
                    let ours = try Self.encode(parts, with: UpstreamRequestEncoder(), promises: promises)
                    let nios = try Self.encode(parts, with: HTTPRequestEncoder(), promises: promises)
                    // NIO writes a chunk's size line, data and CRLF as three writes, as
                    // Gatehouse does; the stream and its write boundaries must agree.
                    #expect(ours == nios, "\(head.method) \(head.uri) \(head.headers) promises: \(promises)")
                }
            }
        }
    }

    @Test func aHeadLongerThanNIOsFirstGuessIsWrittenWhole() throws {
        var headers = HTTPHeaders()
        for i in 0..<60 { headers.add(name: "X-Field-\(i)", value: Self.longValue) }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/" + Self.longValue, headers: headers)
        let bytes = try Self.encode([.head(head)], with: UpstreamRequestEncoder(), promises: false)
        let text = String(decoding: bytes.joined(), as: UTF8.self)
        #expect(text.hasPrefix("GET /\(Self.longValue) HTTP/1.1\r\nX-Field-0: \(Self.longValue)\r\n"))
        #expect(text.hasSuffix("X-Field-59: \(Self.longValue)\r\n\r\n"))
        let fields = (0..<60).reduce(0) { $0 + "X-Field-\($1): ".utf8.count + 700 + 2 }
        let expected = "GET / HTTP/1.1\r\n".utf8.count + 700 + fields + 2
        #expect(text.utf8.count == expected)
    }

    /// The head is written into a buffer sized by the count framing gives: it must be the
    /// block's serialized size whether framing left the fields alone, removed one or
    /// added one (a count too small would trap in the serializer, one too large would
    /// waste the buffer), for every version and body expectation.
    @Test func framingCountsTheHeaderBlockItLeaves() {
        let expectations: [HTTPBodyFraming.BodyExpectation] = [.no, .yes, .unlikely]
        var edited = 0
        for head in Self.heads {
            for body in expectations {
                var headers = head.headers
                let (_, headerBytes) = HTTPBodyFraming.frame(&headers, version: head.version, body: body)
                if headers != head.headers { edited += 1 }
                var block = ByteBuffer()
                HTTPHeadSerializer.write(headers, into: &block)
                #expect(headerBytes == block.readableBytes, "\(head.version) \(head.headers) \(body)")
                #expect(headerBytes == HTTPHeadSerializer.byteCount(of: headers))
            }
        }
        #expect(edited >= 10, "the cases include framing that removes and adds fields")
    }

    /// A body whose `Transfer-Encoding` ends in `chunked`, in any case and with any
    /// whitespace, goes chunked: the field is passed on, so the bytes must match it (NIO
    /// frames only an exact `chunked`, and a GET's `Chunked` body was written unchunked).
    @Test func aTransferEncodingEndingInChunkedIsChunkedInAnyCase() throws {
        for value in ["chunked", "Chunked", "CHUNKED", " chunked\t", "gzip, chunked", "gzip,Chunked"] {
            var headers: HTTPHeaders = ["Host": "h", "Transfer-Encoding": value]
            #expect(HTTPBodyFraming.frame(&headers, version: .http1_1, body: .unlikely).framing == .chunked, "\(value)")
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/g", headers: headers)
            let bytes = try Self.encode([.head(head), .body(.byteBuffer(ByteBuffer(string: "0\r\n\r\n"))), .end(nil)], with: UpstreamRequestEncoder(), promises: false)
            #expect(Array(bytes.dropFirst().joined()) == Array("5\r\n0\r\n\r\n\r\n0\r\n\r\n".utf8), "\(value)")
        }
        for value in ["gzip", "chunked, gzip", "xchunked", "chunkedx", "chunked;q=1", "", "chunked,"] {
            var headers: HTTPHeaders = ["Host": "h", "Transfer-Encoding": value]
            #expect(HTTPBodyFraming.frame(&headers, version: .http1_1, body: .unlikely).framing == .neither, "\(value)")
        }
    }

    /// A body for a request framed with neither field (a TRACE, an HTTP/1.0 head, a GET
    /// declaring nothing) would be read upstream as the start of the next request: the
    /// encoder refuses it and closes the connection instead of writing it bare, as NIO's does.
    @Test func aBodyWithoutFramingIsRefusedAndTheConnectionClosed() throws {
        var unframed = 0
        for head in Self.heads where Self.framing(head) == .neither {
            unframed += 1
            let channel = EmbeddedChannel(handler: UpstreamRequestEncoder())
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try channel.writeOutbound(HTTPClientRequestPart.head(head))
            let written = try #require(try channel.readOutbound(as: IOData.self))
            guard case .byteBuffer(let headBytes) = written else { Issue.record("file region"); continue }
            #expect(String(buffer: headBytes).hasSuffix("\r\n\r\n"))
            let promise = channel.eventLoop.makePromise(of: Void.self)
            channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: "GET /smuggled HTTP/1.1\r\n\r\n"))), promise: promise)
            #expect(throws: UpstreamRequestEncoder.UnframedRequestBody.self) { try promise.futureResult.wait() }
            #expect(try channel.readOutbound(as: IOData.self) == nil, "\(head.method) \(head.uri)")
            let closed = !channel.isActive
            #expect(closed, "\(head.method) \(head.uri)")
            // An empty part (it may carry a promise) is not a body.
            let empty = EmbeddedChannel(handler: UpstreamRequestEncoder())
            try empty.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try empty.writeOutbound(HTTPClientRequestPart.head(head))
            _ = try empty.readOutbound(as: IOData.self)
            try empty.writeOutbound(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer())))
            let open = empty.isActive
            #expect(open, "\(head.method) \(head.uri)")
            _ = try empty.finish()
        }
        #expect(unframed >= 4)
    }
}
