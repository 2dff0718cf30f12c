import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// Gatehouse's decoding handlers carry NIO's `ByteToMessageHandler` logic with concrete
/// types (``DecodingCore``): whatever NIO's handler passes on — parts, errors, leftovers,
/// end of input — theirs must pass on identically, event for event, including the hard
/// cases: bytes one at a time, a read arriving while a decode runs (re-entrancy), a
/// request written while a response is decoded (queued writes), a parse error and the
/// bytes after it, removal with bytes left, input closed and the connection gone.
@Suite struct DecodingHandlerTests {
    /// Records every event reaching it, as text without buffer addresses; on cue, feeds
    /// bytes back into the pipeline or writes a request from inside a read (re-entrancy).
    final class Recorder: ChannelDuplexHandler {
        typealias InboundIn = Any
        typealias OutboundIn = Any
        var events: [String] = []
        /// Bytes fired into the pipeline from inside the first read (once).
        var reenterWith: ByteBuffer?
        /// A request written from inside the first response head read (once).
        var writeOnFirstHead: HTTPClientRequestPart?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let value = unwrapInboundIn(data)
            events.append(DecodingHandlerTests.describe(value))
            if let bytes = reenterWith {
                reenterWith = nil
                context.pipeline.fireChannelRead(bytes)
            }
            if let request = writeOnFirstHead, case .head = value as? HTTPClientResponsePart {
                writeOnFirstHead = nil
                context.write(NIOAny(request), promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if case ByteToMessageDecoderError.dataReceivedInErrorState(let inner, let bytes) = error {
                events.append("error in error state (\(inner)) with \(String(buffer: bytes).debugDescription)")
            } else {
                events.append("error \(error)")
            }
        }

        func channelInactive(context: ChannelHandlerContext) { events.append("inactive") }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) { events.append("event \(event)") }
    }

    static func describe(_ value: Any) -> String {
        switch value {
        case let part as HTTPServerRequestPart:
            switch part {
            case .head(let head): return "head \(head.method) \(head.uri) \(head.version) \(head.headers)"
            case .body(let bytes): return "body \(String(buffer: bytes).debugDescription)"
            case .end(let trailers): return "end \(String(describing: trailers))"
            }
        case let part as HTTPClientResponsePart:
            switch part {
            case .head(let head): return "head \(head.status.code) \(head.version) \(head.headers)"
            case .body(let bytes): return "body \(String(buffer: bytes).debugDescription)"
            case .end(let trailers): return "end \(String(describing: trailers))"
            }
        case let data as IOData:
            guard case .byteBuffer(let bytes) = data else { return "file region" }
            return "bytes \(String(buffer: bytes).debugDescription)"
        case let bytes as ByteBuffer:
            return "bytes \(String(buffer: bytes).debugDescription)"
        default:
            return "other \(value)"
        }
    }

    enum Side { case nio, gatehouse }

    /// What reaches the handler after a request decoder when `feed` drives the channel.
    static func requestEvents(
        _ side: Side, leftovers: RemoveAfterUpgradeStrategy = .dropBytes, reenterWith: ByteBuffer? = nil,
        _ feed: (EmbeddedChannel, RemovableChannelHandler) throws -> Void
    ) throws -> [String] {
        let decoder = HTTPRequestDecoder(leftOverBytesStrategy: leftovers)
        let handler: ChannelHandler & RemovableChannelHandler = side == .nio ? ByteToMessageHandler(decoder) : HTTPRequestDecodingHandler(decoder)
        let recorder = Recorder()
        recorder.reenterWith = reenterWith
        let channel = EmbeddedChannel(handlers: [handler, recorder])
        try feed(channel, handler)
        channel.embeddedEventLoop.run()
        _ = try? channel.finish()
        return recorder.events
    }

    /// What reaches the handler after a response decoder, requests written first.
    static func responseEvents(
        _ side: Side, requests: [HTTPMethod], writeOnFirstHead: HTTPClientRequestPart? = nil,
        _ feed: (EmbeddedChannel, RemovableChannelHandler) throws -> Void
    ) throws -> [String] {
        let decoder = HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)
        let handler: ChannelHandler & RemovableChannelHandler = side == .nio ? ByteToMessageHandler(decoder) : HTTPResponseDecodingHandler(decoder)
        let recorder = Recorder()
        recorder.writeOnFirstHead = writeOnFirstHead
        let channel = EmbeddedChannel(handlers: [handler, recorder])
        for method in requests {
            try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: "/r")))
            try channel.writeOutbound(HTTPClientRequestPart.end(nil))
        }
        try feed(channel, handler)
        channel.embeddedEventLoop.run()
        _ = try? channel.finish()
        return recorder.events
    }

    static let pipelined = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        + "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
        + "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"

    /// Runs the scenario on both and compares; returns NIO's events for checks of their own.
    @discardableResult
    static func same(_ events: (Side) throws -> [String], _ comment: Comment) throws -> [String] {
        let nio = try events(.nio)
        let ours = try events(.gatehouse)
        #expect(!nio.isEmpty, comment)
        #expect(ours == nio, comment)
        return nio
    }

    @Test func requestsWholeOrByteByByteDecodeAsNIOs() throws {
        try Self.same({ try Self.requestEvents($0) { channel, _ in try channel.writeInbound(ByteBuffer(string: Self.pipelined)) } }, "whole")
        try Self.same({
            try Self.requestEvents($0) { channel, _ in
                for byte in Self.pipelined.utf8 { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
            }
        }, "byte by byte")
    }

    @Test func aReadArrivingDuringADecodeIsDecodedAfterIt() throws {
        try Self.same({
            try Self.requestEvents($0, reenterWith: ByteBuffer(string: "GET /re HTTP/1.1\r\nHost: h\r\n\r\n")) { channel, _ in
                try channel.writeInbound(ByteBuffer(string: Self.pipelined))
            }
        }, "re-entrant read")
    }

    @Test func aParseErrorAndTheBytesAfterItAreReportedAsNIOs() throws {
        try Self.same({
            try Self.requestEvents($0) { channel, _ in
                _ = try? channel.writeInbound(ByteBuffer(string: "GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nBad Header: v\r\n\r\n"))
                _ = try? channel.writeInbound(ByteBuffer(string: "GET /after HTTP/1.1\r\n\r\n"))
            }
        }, "error state")
    }

    @Test func endOfInputMidRequestIsReportedAsNIOs() throws {
        try Self.same({
            try Self.requestEvents($0) { channel, _ in
                try channel.writeInbound(ByteBuffer(string: "POST /cut HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"))
                channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            }
        }, "input closed")
        try Self.same({
            try Self.requestEvents($0) { channel, _ in
                try channel.writeInbound(ByteBuffer(string: "GET /half HTTP/1.1\r\nHo"))
                channel.pipeline.fireChannelInactive()
            }
        }, "connection gone")
    }

    @Test func removalForwardsOrDropsTheBytesLeftAsNIOs() throws {
        for strategy in [RemoveAfterUpgradeStrategy.dropBytes, .forwardBytes] {
            try Self.same({
                try Self.requestEvents($0, leftovers: strategy) { channel, handler in
                    try channel.writeInbound(ByteBuffer(string: "GET /up HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nframe bytes"))
                    channel.pipeline.syncOperations.removeHandler(handler, promise: nil)
                    channel.embeddedEventLoop.run()
                    try channel.writeInbound(ByteBuffer(string: "after removal"))
                }
            }, "\(strategy)")
        }
    }

    @Test func responsesAreFramedForTheRequestsWrittenAsNIOs() throws {
        let responses = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        try Self.same({
            try Self.responseEvents($0, requests: [.GET, .HEAD, .GET]) { channel, _ in try channel.writeInbound(ByteBuffer(string: responses)) }
        }, "GET, HEAD, GET")
        try Self.same({
            try Self.responseEvents($0, requests: [.GET, .HEAD, .GET]) { channel, _ in
                for byte in responses.utf8 { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
            }
        }, "byte by byte")
    }

    /// A request written while a response is being decoded is queued and told to the
    /// decoder once that decode returns: here a HEAD, whose answer (the next read) must
    /// then be read without a body.
    @Test func aRequestWrittenDuringADecodeIsObservedAfterIt() throws {
        let events = try Self.same({
            try Self.responseEvents($0, requests: [.GET], writeOnFirstHead: .head(HTTPRequestHead(version: .http1_1, method: .HEAD, uri: "/h"))) { channel, _ in
                try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
                try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"))
            }
        }, "queued write")
        #expect(events.prefix(5) == ["head 200 HTTP/1.1 Content-Length: 2", "body \"ok\"", "end nil", "head 200 HTTP/1.1 Content-Length: 9", "end nil"])
    }

    @Test func bytesAfterA101AreForwardedOnRemovalAsNIOs() throws {
        try Self.same({
            try Self.responseEvents($0, requests: [.GET]) { channel, handler in
                try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nserver frame"))
                channel.pipeline.syncOperations.removeHandler(handler, promise: nil)
                channel.embeddedEventLoop.run()
                try channel.writeInbound(ByteBuffer(string: "later frame"))
                channel.pipeline.fireChannelInactive()
            }
        }, "101 leftovers")
    }
}
