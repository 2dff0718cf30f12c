import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// Gatehouse's client response encoder (with the request sequencer telling it each
/// request's method) replaces NIO's `HTTPResponseEncoder` (told by NIO's decoder) for
/// speed; what reaches the socket must be NIO's, write for write, and so must the fate of
/// every write's promise — for every method and status that changes the framing.
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
    static func exchange(_ channel: EmbeddedChannel, method: String, version: String, _ responseParts: [HTTPServerResponsePart]) throws -> (writes: [[UInt8]], outcomes: [String]) {
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
        return (writes, outcomes)
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
                #expect(ours.writes == nios.writes, "\(request) \(response)")
                #expect(ours.outcomes == nios.outcomes, "\(request) \(response)")
            }
        }
    }

    /// Kept-alive: each response is framed for its own request's method, in order.
    @Test func eachResponseOnAConnectionIsFramedForItsOwnRequest() throws {
        let ours = try Self.gatehouseCodec()
        let nios = try Self.nioCodec()
        for method in ["GET", "HEAD", "GET", "HEAD", "HEAD", "POST"] {
            let response = [Self.head(.ok, ["Content-Length": "11"]), Self.body, .end(nil)]
            let a = try Self.exchange(ours, method: method, version: "HTTP/1.1", response)
            let b = try Self.exchange(nios, method: method, version: "HTTP/1.1", response)
            #expect(a.writes == b.writes, "\(method)")
            #expect(a.outcomes == b.outcomes, "\(method)")
            #expect(a.writes.contains(Array("{\"ok\":true}".utf8)) == (method != "HEAD"), "\(method): the body unless HEAD")
        }
    }
}
