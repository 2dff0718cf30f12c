import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// Gatehouse's client response encoder (with the request sequencer telling it each
/// request's method) replaces NIO's `HTTPResponseEncoder` (told by NIO's decoder) for
/// speed; what reaches the socket must be NIO's, byte for byte, and so must the fate of
/// every write's promise — for every method and status that changes the framing. (Not
/// write for write: a `Content-Length` head and a small first body part go as one.)
@Suite struct ClientResponseEncoderTests {
    static let requests: [(method: String, version: String)] = [
        ("GET", "HTTP/1.1"), ("HEAD", "HTTP/1.1"), ("POST", "HTTP/1.1"), ("CONNECT", "HTTP/1.1"), ("GET", "HTTP/1.0"), ("HEAD", "HTTP/1.0"),
    ]

    static func head(_ status: HTTPResponseStatus, _ headers: HTTPHeaders = [:], version: HTTPVersion = .http1_1) -> HTTPServerResponsePart {
        .head(HTTPResponseHead(version: version, status: status, headers: headers))
    }

    static let body: HTTPServerResponsePart = .body(.byteBuffer(ByteBuffer(string: "{\"ok\":true}")))
    static let empty: HTTPServerResponsePart = .body(.byteBuffer(ByteBuffer()))

    static let responses: [[HTTPServerResponsePart]] = [
        [head(.ok, ["Content-Type": "application/json", "Content-Length": "11", "X-Request-Id": "abc"]), body, .end(nil)],
        [head(.ok, ["Content-Length": "11", "Transfer-Encoding": "chunked"]), body, .end(nil)],
        [head(.ok, ["Content-Type": "text/html"]), body, empty, body, .end(nil)],
        [head(.ok, ["Transfer-Encoding": "chunked"]), body, .end(["X-Digest": "d", "X-More": "m"])],
        [head(.ok, [:], version: .http1_0), body, .end(nil)],
        [head(.noContent, ["Content-Length": "0", "Transfer-Encoding": "chunked"]), .end(nil)],
        [head(.notModified, ["ETag": "\"x\"", "Content-Length": "11"]), .end(nil)],
        [head(.continue), head(.created, ["Location": "/n"]), body, .end(nil)],
        [head(.custom(code: 103, reasonPhrase: "Early Hints"), ["Link": "</s.css>; rel=preload"]), head(.ok, ["Content-Length": "11"]), body, .end(nil)],
        [head(.switchingProtocols, ["Upgrade": "websocket", "Connection": "Upgrade", "Content-Length": "3"]), .end(nil)],
        [head(.custom(code: 299, reasonPhrase: "Fine Indeed")), body, .end(nil)],
        [head(.custom(code: 599, reasonPhrase: "")), .end(nil)],
        [head(.unauthorized, ["WWW-Authenticate": "Bearer error=\"invalid_token\"", "Content-Length": "40"]), body, .end(nil)],
    ]

    /// Bytes per write and each write's outcome, for `responseParts` answering a request
    /// with `method` and `version`, in `channel` (an HTTP server codec).
    static func exchange(_ channel: EmbeddedChannel, method: String, version: String, _ responseParts: [HTTPServerResponsePart]) throws -> (writes: [[UInt8]], bytes: [UInt8], outcomes: [String]) {
        let target = method == "CONNECT" ? "upstream.test:443" : "/page"
        try channel.writeInbound(ByteBuffer(string: "\(method) \(target) \(version)\r\nHost: gatehouse.test\r\n\r\n"))
        var futures: [EventLoopFuture<Void>] = []
        for part in responseParts {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            futures.append(promise.futureResult)
            channel.write(part, promise: promise)
        }
        channel.flush()
        var writes: [[UInt8]] = []
        while let out = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = out else { continue }
            writes.append(Array(buffer.readableBytesView))
        }
        var outcomes: [String] = []
        for future in futures {
            do {
                try future.wait()
                outcomes.append("ok")
            } catch {
                outcomes.append("\(error)")
            }
        }
        return (writes, writes.flatMap { $0 }, outcomes)
    }

    static func gatehouseCodec() throws -> EmbeddedChannel {
        EmbeddedChannel(handlers: [ByteToMessageHandler(HTTPRequestDecoder()), RequestSequencer()])
    }

    static func nioCodec() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false
        )
        return channel
    }

    @Test func writesWhatNIOsEncoderWritesForEveryMethodAndStatus() throws {
        for request in Self.requests {
            for response in Self.responses {
                let ours = try Self.exchange(Self.gatehouseCodec(), method: request.method, version: request.version, response)
                let nios = try Self.exchange(Self.nioCodec(), method: request.method, version: request.version, response)
                // NIO frames by the response's version: it sends chunks to HTTP/1.0
                // clients, which cannot read them (next test). Otherwise, byte for byte.
                let niosText = String(decoding: nios.bytes, as: UTF8.self).lowercased()
                if request.version == "HTTP/1.0" && (niosText.contains("transfer-encoding") || !niosText.contains("content-length")) { continue }
                #expect(ours.bytes == nios.bytes, "\(request) \(response)")
                #expect(ours.outcomes == nios.outcomes, "\(request) \(response)")
            }
        }
    }

    /// An HTTP/1.0 client never gets `Transfer-Encoding` (RFC 9112 §6.1: it cannot read
    /// chunks): a body without a length goes as it is, ended by the close the head
    /// announces; a body with one, as for HTTP/1.1.
    /// The body rule by code is NIO's by status, for every code a response can carry.
    @Test func aBodyIsExpectedForTheCodesNIOExpectsOneFor() {
        let differing = (100...999).filter { code in
            HTTPBodyFraming.responseMayHaveBody(code: code) != HTTPResponseStatus(statusCode: code).mayHaveResponseBody
        }
        #expect(differing.isEmpty, "codes ruled otherwise than NIO: \(differing)")
        #expect(!HTTPBodyFraming.responseMayHaveBody(code: 103) && !HTTPBodyFraming.responseMayHaveBody(code: 204) && HTTPBodyFraming.responseMayHaveBody(code: 200))
    }

    @Test func http10ClientsGetNoChunks() throws {
        var unframed = 0
        for method in ["GET", "HEAD"] {
            for response in Self.responses {
                let ours = try Self.exchange(Self.gatehouseCodec(), method: method, version: "HTTP/1.0", response)
                let text = String(decoding: ours.bytes, as: UTF8.self)
                let heads = text.components(separatedBy: "\r\n\r\n")
                #expect(!text.lowercased().contains("transfer-encoding"), "\(response)")
                guard let finalHead = heads.dropLast().last?.lowercased(), method == "GET",
                      !finalHead.contains("content-length"), !finalHead.hasPrefix("http/1.1 101"),
                      response.contains(where: { if case .body(let b) = $0 { b.readableBytes > 0 } else { false } }),
                      !finalHead.hasPrefix("http/1.1 204"), !finalHead.hasPrefix("http/1.1 304")
                else { continue }
                unframed += 1
                #expect(finalHead.contains("connection: close"), "\(response)")
                let body = response.compactMap { part -> String? in
                    if case .body(.byteBuffer(let b)) = part { String(buffer: b) } else { nil }
                }.joined()
                #expect(heads.last == body, "\(response)")
            }
        }
        #expect(unframed >= 3)
    }

    /// Kept-alive: each response is framed for its own request's method, in order.
    @Test func eachResponseOnAConnectionIsFramedForItsOwnRequest() throws {
        let ours = try Self.gatehouseCodec()
        let nios = try Self.nioCodec()
        for method in ["GET", "HEAD", "GET", "HEAD", "HEAD", "POST"] {
            let response = [Self.head(.ok, ["Content-Length": "11"]), Self.body, .end(nil)]
            let a = try Self.exchange(ours, method: method, version: "HTTP/1.1", response)
            let b = try Self.exchange(nios, method: method, version: "HTTP/1.1", response)
            #expect(a.bytes == b.bytes, "\(method)")
            #expect(a.outcomes == b.outcomes, "\(method)")
            #expect(String(decoding: a.bytes, as: UTF8.self).hasSuffix("{\"ok\":true}") == (method != "HEAD"), "\(method): the body unless HEAD")
        }
    }

    // MARK: - A head and a small body in one write

    @Test func aContentLengthHeadAndASmallFirstBodyGoInOneWrite() throws {
        let small = [Self.head(.ok, ["Content-Length": "11"]), Self.body, .end(nil)]
        let ours = try Self.exchange(Self.gatehouseCodec(), method: "GET", version: "HTTP/1.1", small)
        let nios = try Self.exchange(Self.nioCodec(), method: "GET", version: "HTTP/1.1", small)
        #expect(ours.writes.first == nios.writes[0] + nios.writes[1], "head and body in the first write")
        #expect(ours.writes.count == nios.writes.count - 1)
        #expect(ours.outcomes == ["ok", "ok", "ok"])

        // Past the limit, or chunked: the head goes alone, and the body is not copied.
        let big = ByteBuffer(repeating: UInt8(ascii: "x"), count: ClientResponseEncoder.coalescedBodyLimit + 1)
        let large = [Self.head(.ok, ["Content-Length": "\(big.readableBytes)"]), .body(.byteBuffer(big)), .end(nil)]
        let separate = try Self.exchange(Self.gatehouseCodec(), method: "GET", version: "HTTP/1.1", large)
        #expect(separate.writes.count == 3 && separate.writes[1].count == big.readableBytes)
        let chunked = try Self.exchange(Self.gatehouseCodec(), method: "GET", version: "HTTP/1.1", [Self.head(.ok), Self.body, .end(nil)])
        #expect(String(decoding: chunked.writes[0], as: UTF8.self).hasSuffix("\r\n\r\n"), "the chunked head alone")
    }

    /// A held head is never stuck: a flush writes it (an upstream that sends its head
    /// before its body has it reach the client at once), and so do a close (before it) and
    /// the connection going away, where the channel fails its promise as any write's.
    @Test func aHeldHeadIsWrittenByAFlushACloseOrTheEndOfTheConnection() throws {
        let head = Self.head(.ok, ["Content-Length": "11"])

        let flushed = try Self.gatehouseCodec()
        try flushed.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: g.test\r\n\r\n"))
        flushed.write(head, promise: nil)
        #expect(try flushed.readOutbound(as: IOData.self) == nil, "held until the body or a flush")
        flushed.flush()
        guard case .byteBuffer(let alone) = try flushed.readOutbound(as: IOData.self) else {
            Issue.record("the flush wrote no head")
            return
        }
        #expect(String(buffer: alone).hasPrefix("HTTP/1.1 200 OK\r\n") && String(buffer: alone).hasSuffix("\r\n\r\n"))
        flushed.writeAndFlush(Self.body, promise: nil)
        guard case .byteBuffer(let body) = try flushed.readOutbound(as: IOData.self) else {
            Issue.record("no body after the flushed head")
            return
        }
        #expect(String(buffer: body) == "{\"ok\":true}")

        for ending in ["close", "inactive"] {
            let recorder = EventRecorder()
            let channel = EmbeddedChannel(handlers: [recorder, ByteToMessageHandler(HTTPRequestDecoder()), RequestSequencer()])
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: g.test\r\n\r\n"))
            channel.write(head, promise: nil)
            #expect(recorder.events == [], "held")
            if ending == "close" {
                channel.close(promise: nil)
            } else {
                channel.pipeline.fireChannelInactive()
            }
            #expect(recorder.events.first == "write HTTP/1.1 200 OK", "\(ending): the held head went down first (\(recorder.events))")
            _ = try? channel.finish()
        }
    }

    /// What reaches the socket side, in order: writes (by their first line) and closes.
    final class EventRecorder: ChannelOutboundHandler {
        typealias OutboundIn = IOData
        var events: [String] = []

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if case .byteBuffer(let buffer) = unwrapOutboundIn(data) {
                events.append("write " + (String(buffer: buffer).split(separator: "\r\n").first.map(String.init) ?? ""))
            }
            context.write(data, promise: promise)
        }

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            events.append("close")
            context.close(mode: mode, promise: promise)
        }
    }

    /// The one-walk head writer gives the framing and the bytes the two walks give
    /// (framing, then writing) whenever framing would leave the fields alone, and writes
    /// nothing — for the two walks to do it — when framing would edit them or they do
    /// not fit the buffer's room.
    @Test func theOneWalkHeadIsTheTwoWalkHeadOrNothing() throws {
        var oneWalk = 0
        var twoWalks = 0
        for parts in Self.responses + [[Self.head(.ok, ["Content-Length": "0"])], [Self.head(.noContent)], [Self.head(.notModified, ["ETag": "\"e\""])]] {
            for part in parts {
                guard case .head(let head) = part else { continue }
                for body in [HTTPBodyFraming.BodyExpectation.no, .yes] {
                    var framed = head
                    let (expected, headerBytes) = HTTPBodyFraming.frame(&framed.headers, version: head.version, body: body)
                    var reference = ByteBuffer()
                    HTTPHeadSerializer.write(framed, headerBytes: headerBytes, into: &reference)
                    var buffer = ByteBufferAllocator().buffer(capacity: 1024)
                    if let framing = HTTPHeadSerializer.writeIfFramed(head, body: body, into: &buffer) {
                        oneWalk += 1
                        #expect(framing == expected, "\(head) \(body)")
                        #expect(buffer == reference, "\(head) \(body)")
                        #expect(framed.headers == head.headers, "framing would have edited \(head)")
                    } else {
                        twoWalks += 1
                        #expect(buffer.readableBytes == 0)
                        // Only where framing edits the fields, frames by chunks, or leaves a
                        // body unframed (HTTP/1.0) is the two-walk path needed.
                        #expect(framed.headers != head.headers || expected != .contentLength || body == .no, "\(head) \(body)")
                    }
                }
            }
        }
        #expect(oneWalk >= 8 && twoWalks >= 8)
        // Fields past the room: nothing written, whatever the framing.
        var fields = HTTPHeaders([("Content-Length", "3")])
        for i in 0..<40 { fields.add(name: "X-Long-\(i)", value: String(repeating: "v", count: 60)) }
        var small = ByteBufferAllocator().buffer(capacity: 1024)
        #expect(HTTPHeadSerializer.writeIfFramed(HTTPResponseHead(version: .http1_1, status: .ok, headers: fields), body: .yes, into: &small) == nil)
        #expect(small.readableBytes == 0)
    }
}

