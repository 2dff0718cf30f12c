import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// Gatehouse's decoding handlers carry NIO's `ByteToMessageHandler` logic with concrete
/// types (``DecodingCore``) and NIO's HTTP/1 decoder copied to hand its parts on by direct
/// call (``HTTPMessageDecoder``): whatever NIO's handler and decoder pass on — parts, each
/// head's keep-alive verdict, errors, leftovers, end of input — theirs must pass on
/// identically, event for event, both to a receiver wired as in production and through the
/// pipeline, including the hard cases: bytes one at a time, a read arriving while a decode
/// runs (re-entrancy), a request written while a response is decoded (queued writes), a
/// parse error and the bytes after it, removal with bytes left, input closed and the
/// connection gone.
@Suite struct DecodingHandlerTests {
    /// Records every event reaching it, as text without buffer addresses; on cue, feeds
    /// bytes back into the pipeline or writes a request from inside a read (re-entrancy).
    /// Takes the decoder's parts by direct call too, when wired as its receiver.
    final class Recorder: ChannelDuplexHandler, DecodedRequestReceiver, DecodedResponseReceiver {
        typealias InboundIn = Any
        typealias OutboundIn = Any
        var events: [String] = []
        /// Bytes fired into the pipeline from inside the first read (once).
        var reenterWith: ByteBuffer?
        /// A request written from inside the first response head read (once).
        var writeOnFirstHead: HTTPClientRequestPart?
        /// Run from inside the first response head read (once).
        var onFirstHead: (() -> Void)?
        /// A request head's keep-alive verdict as ``ProxyHandler`` reads it (the inspection's),
        /// rather than the head's `isKeepAlive` (llhttp's in NIO's heads).
        var requestVerdictByInspection = false
        private var context: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            record(unwrapInboundIn(data), keepAlive: nil, context: context)
        }

        func decoded(_ part: HTTPServerRequestPart) -> Bool {
            guard let context else { return false }
            record(part, keepAlive: nil, context: context)
            return true
        }

        func decoded(_ part: HTTPClientResponsePart, keepAlive: Bool, fields: HeaderHygiene.HopByHopScan?) -> Bool {
            guard let context else { return false }
            record(part, keepAlive: keepAlive, context: context)
            return true
        }

        /// `keepAlive`: the verdict handed with a response part (a direct call); otherwise
        /// the head's own (`isKeepAlive`, llhttp's in NIO's heads).
        private func record(_ value: Any, keepAlive: Bool?, context: ChannelHandlerContext) {
            var keepAlive = keepAlive
            if requestVerdictByInspection, case .head(let head) = value as? HTTPServerRequestPart {
                keepAlive = RequestHeadValidator.inspect(head).keepsAlive(head.version)
            }
            events.append(DecodingHandlerTests.describe(value, keepAlive: keepAlive))
            if let bytes = reenterWith {
                reenterWith = nil
                context.pipeline.fireChannelRead(bytes)
            }
            if let request = writeOnFirstHead, case .head = value as? HTTPClientResponsePart {
                writeOnFirstHead = nil
                context.write(NIOAny(request), promise: nil)
            }
            if let hook = onFirstHead, case .head = value as? HTTPClientResponsePart {
                onFirstHead = nil
                hook()
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

    static func describe(_ value: Any, keepAlive: Bool? = nil) -> String {
        switch value {
        case let part as HTTPServerRequestPart:
            switch part {
            case .head(let head): return "head \(head.method) \(head.uri) \(head.version) \(head.headers) keep-alive \(keepAlive ?? head.isKeepAlive)"
            case .body(let bytes): return "body \(String(buffer: bytes).debugDescription)"
            case .end(let trailers): return "end \(String(describing: trailers))"
            }
        case let part as HTTPClientResponsePart:
            switch part {
            case .head(let head): return "head \(head.status.code) \(head.version) \(head.headers) keep-alive \(keepAlive ?? head.isKeepAlive)"
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

    /// NIO's handler and decoder; Gatehouse's, wired to the next handler as in production
    /// (parts by direct call); Gatehouse's with no receiver (parts through the pipeline).
    enum Side: CaseIterable { case nio, gatehouse, gatehouseThroughPipeline }

    /// What reaches the handler after a request decoder when `feed` drives the channel.
    static func requestEvents(
        _ side: Side, leftovers: RemoveAfterUpgradeStrategy = .dropBytes, reenterWith: ByteBuffer? = nil,
        _ feed: (EmbeddedChannel, RemovableChannelHandler) throws -> Void
    ) throws -> [String] {
        let recorder = Recorder()
        recorder.reenterWith = reenterWith
        recorder.requestVerdictByInspection = side != .nio
        let handler: ChannelHandler & RemovableChannelHandler
        switch side {
        case .nio: handler = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: leftovers))
        case .gatehouse, .gatehouseThroughPipeline:
            let decoding = HTTPRequestDecodingHandler(HTTPMessageDecoder(.request, leftOverBytesStrategy: leftovers))
            if side == .gatehouse { decoding.decoder.requestReceiver = recorder }
            handler = decoding
        }
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
        let recorder = Recorder()
        recorder.writeOnFirstHead = writeOnFirstHead
        let handler: ChannelHandler & RemovableChannelHandler
        switch side {
        case .nio: handler = ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes))
        case .gatehouse, .gatehouseThroughPipeline:
            let decoding = HTTPResponseDecodingHandler(HTTPMessageDecoder(.response, leftOverBytesStrategy: .forwardBytes))
            if side == .gatehouse { decoding.decoder.responseReceiver = recorder }
            handler = decoding
        }
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

    /// Runs the scenario on every side and compares; returns NIO's events for checks of
    /// their own. `sides`: a response delimited by the close is not keep-alive, which only
    /// the direct path can say (see ``HTTPMessageDecoder``).
    @discardableResult
    static func same(_ events: (Side) throws -> [String], _ comment: Comment, sides: [Side] = [.gatehouse, .gatehouseThroughPipeline]) throws -> [String] {
        let nio = try events(.nio)
        #expect(!nio.isEmpty, comment)
        for side in sides {
            let ours = try events(side)
            #expect(ours == nio, "\(comment) (\(side))")
        }
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
        #expect(events.prefix(5) == ["head 200 HTTP/1.1 Content-Length: 2 keep-alive true", "body \"ok\"", "end nil", "head 200 HTTP/1.1 Content-Length: 9 keep-alive true", "end nil"])
    }

    /// How `UpstreamHandler` tells the decoder a request's method (`observe(method:)`, the
    /// head's bytes having gone to the encoder directly): idle, and from inside a decode
    /// (queued behind it). The responses decode as with every head written through the
    /// pipeline to NIO's decoder — the two to HEAD without a body.
    @Test func methodsObservedDirectlyDecodeAsHeadsWrittenThroughThePipeline() throws {
        let first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        let bodiless = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
        let head = HTTPRequestHead(version: .http1_1, method: .HEAD, uri: "/h")
        let nio = try Self.responseEvents(.nio, requests: [.GET], writeOnFirstHead: .head(head)) { channel, _ in
            try channel.writeInbound(ByteBuffer(string: first))
            try channel.writeInbound(ByteBuffer(string: bodiless))
            try channel.writeOutbound(HTTPClientRequestPart.head(head))
            try channel.writeInbound(ByteBuffer(string: bodiless))
        }
        #expect(nio.filter { $0.hasPrefix("head 200") }.count == 3 && !nio.contains { $0.hasPrefix("body") && $0 != "body \"ok\"" })

        let recorder = Recorder()
        let decoding = HTTPResponseDecodingHandler(HTTPMessageDecoder(.response, leftOverBytesStrategy: .forwardBytes))
        decoding.decoder.responseReceiver = recorder
        recorder.onFirstHead = { decoding.observe(method: .HEAD) }
        let channel = EmbeddedChannel(handlers: [decoding, recorder])
        decoding.observe(method: .GET)
        try channel.writeInbound(ByteBuffer(string: first))
        try channel.writeInbound(ByteBuffer(string: bodiless))
        decoding.observe(method: .HEAD)
        try channel.writeInbound(ByteBuffer(string: bodiless))
        channel.embeddedEventLoop.run()
        _ = try? channel.finish()
        #expect(recorder.events == nio)
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

    /// Each response head's keep-alive verdict is llhttp's, as NIO's heads carry it: a
    /// response delimited by the close (no length, not chunked) is not keep-alive whatever
    /// its `Connection` field says — an upstream connection must not be pooled after one.
    /// Through the pipeline Gatehouse's heads can only say what their `Connection` field
    /// says, so that side is left out here.
    @Test func responseKeepAliveVerdictsAreLLHTTPs() throws {
        let cases: [(String, [HTTPMethod], Bool)] = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", [.GET], true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", [.GET], true),
            ("HTTP/1.1 200 OK\r\n\r\nuntil the close", [.GET], false),
            ("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nuntil the close", [.GET], false),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", [.GET], false),
            ("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", [.GET], false),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", [.GET], true),
            ("HTTP/1.1 204 No Content\r\n\r\n", [.GET], true),
            ("HTTP/1.1 304 Not Modified\r\n\r\n", [.GET], true),
            // llhttp's verdict is taken before it learns the response has no body.
            ("HTTP/1.1 200 OK\r\n\r\n", [.HEAD], false),
            ("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", [.HEAD], true),
            ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil the close", [.POST], false),
        ]
        for (response, methods, keepAlive) in cases {
            let events = try Self.same({
                try Self.responseEvents($0, requests: methods) { channel, _ in
                    try channel.writeInbound(ByteBuffer(string: response))
                    channel.pipeline.fireChannelInactive()
                }
            }, "\(response.debugDescription)", sides: [.gatehouse])
            #expect(events.first?.hasSuffix("keep-alive \(keepAlive)") == true, "\(response.debugDescription): \(events)")
        }
    }

    /// A request's verdict, which ``ProxyHandler`` takes from the inspection of its fields
    /// (``RequestHeadValidator/Inspection/keepsAlive(_:)``), is its `Connection` field's and
    /// version's, as llhttp's is for a request (never delimited by a close) — with one
    /// exception: a field saying both `keep-alive` and `close` is read as `close` (RFC 9112
    /// §9.6), where llhttp keeps an HTTP/1.0 connection alive.
    @Test func requestKeepAliveVerdictsAreLLHTTPs() throws {
        let cases: [(String, Bool)] = [
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade,close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: x\r\nConnection:  CLOSE \r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed, keep-alives\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nHost: h\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nHost: h\r\nConnection: te, keep-alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive-ish\r\n\r\n", false),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok", true),
        ]
        for (request, keepAlive) in cases {
            let events = try Self.same({
                try Self.requestEvents($0) { channel, _ in try channel.writeInbound(ByteBuffer(string: request)) }
            }, "\(request.debugDescription)")
            #expect(events.first?.hasSuffix("keep-alive \(keepAlive)") == true, "\(request.debugDescription): \(events)")
        }
        let contradictory = "GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n"
        let nio = try Self.requestEvents(.nio) { channel, _ in try channel.writeInbound(ByteBuffer(string: contradictory)) }
        let ours = try Self.requestEvents(.gatehouse) { channel, _ in try channel.writeInbound(ByteBuffer(string: contradictory)) }
        #expect(nio.first?.hasSuffix("keep-alive true") == true)
        #expect(ours.first?.hasSuffix("keep-alive false") == true)
    }
}
