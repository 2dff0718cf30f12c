import GatehouseAuth
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// The gate's 401s go out as bytes serialized once (``LocalResponse/Prebuilt``): they must
/// be the bytes the encoder writes for the same head and body as parts, for every request
/// method and version that changes framing, and fall back to parts where they would not be.
@Suite struct PrebuiltAnswerTests {
    static let reasons = TokenRejectionReason.allCases

    static func prebuilt(_ reason: TokenRejectionReason, keepAlive: Bool) throws -> LocalResponse.Prebuilt {
        try #require(LocalResponse.gate(.unauthenticated(reason)).prebuilt(keepAlive: keepAlive))
    }

    /// A request decoder and the sequencer, as the server pipeline has them.
    static func codec() -> (EmbeddedChannel, RequestSequencer) {
        let sequencer = RequestSequencer()
        return (EmbeddedChannel(handlers: [ByteToMessageHandler(HTTPRequestDecoder()), sequencer]), sequencer)
    }

    static func request(_ channel: EmbeddedChannel, method: String, version: String, fields: String = "") throws {
        let target = method == "CONNECT" ? "upstream.test:443" : "/_api/x"
        try channel.writeInbound(ByteBuffer(string: "\(method) \(target) \(version)\r\nHost: gatehouse.test\r\n\(fields)\r\n"))
    }

    static func written(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var writes: [ByteBuffer] = []
        while let out = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = out { writes.append(buffer) }
        }
        return writes
    }

    /// What the encoder writes for the head, the body (but to `HEAD`) and the end as parts.
    static func asParts(_ prebuilt: LocalResponse.Prebuilt, method: String, version: String) throws -> [UInt8] {
        let (channel, _) = codec()
        try request(channel, method: method, version: version)
        channel.write(HTTPServerResponsePart.head(prebuilt.head), promise: nil)
        if method != "HEAD" { channel.write(HTTPServerResponsePart.body(.byteBuffer(prebuilt.body)), promise: nil) }
        channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
        return try written(channel).flatMap { Array($0.readableBytesView) }
    }

    @Test(arguments: [("GET", "HTTP/1.1"), ("HEAD", "HTTP/1.1"), ("POST", "HTTP/1.1"), ("GET", "HTTP/1.0"), ("HEAD", "HTTP/1.0")])
    func theReadyBytesAreThePartsBytes(method: String, version: String) throws {
        for reason in Self.reasons {
            for keepAlive in [true, false] {
                let prebuilt = try Self.prebuilt(reason, keepAlive: keepAlive)
                let (channel, sequencer) = Self.codec()
                try Self.request(channel, method: method, version: version)
                #expect(sequencer.writePrebuilt(prebuilt))
                channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
                let writes = try Self.written(channel)
                let bytes = writes.flatMap { Array($0.readableBytesView) }
                #expect(bytes == (try Self.asParts(prebuilt, method: method, version: version)), "\(reason) \(keepAlive) \(method) \(version)")
                // One write, and it is the table's buffer itself: nothing serialized again.
                #expect(writes.count == 1)
                let ready = method == "HEAD" ? prebuilt.wireHead : prebuilt.wire
                let shared = writes.first.map { written in
                    written.withUnsafeReadableBytes { a in ready.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress } }
                }
                #expect(shared == true, "\(reason) \(method)")
            }
        }
    }

    /// A `CONNECT` is answered without framing fields: its 401 goes as parts (the encoder
    /// drops `Content-Length`), and the request is still answered in order.
    @Test func aConnectIsAnsweredAsParts() throws {
        let prebuilt = try Self.prebuilt(.badSignature, keepAlive: true)
        let (channel, sequencer) = Self.codec()
        try Self.request(channel, method: "CONNECT", version: "HTTP/1.1")
        #expect(!sequencer.writePrebuilt(prebuilt))
        #expect(try Self.written(channel).isEmpty)
        let parts = try Self.asParts(prebuilt, method: "CONNECT", version: "HTTP/1.1")
        #expect(!String(decoding: parts, as: UTF8.self).lowercased().contains("content-length"))
    }

    /// A connection that must close after this response (the server drains: SIGTERM) has
    /// `Connection: close` added to its head: the ready bytes, which lack it, are not used.
    @Test func aDrainingConnectionGetsItsHeadAsParts() throws {
        let prebuilt = try Self.prebuilt(.badSignature, keepAlive: true)
        let (channel, sequencer) = Self.codec()
        try Self.request(channel, method: "GET", version: "HTTP/1.1")
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(!sequencer.writePrebuilt(prebuilt))
        #expect(try Self.written(channel).isEmpty)
        channel.write(HTTPServerResponsePart.head(prebuilt.head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(prebuilt.body)), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
        let text = String(decoding: try Self.written(channel).flatMap { Array($0.readableBytesView) }, as: UTF8.self)
        #expect(text.lowercased().contains("\r\nconnection: close\r\n"))
        #expect(text.hasSuffix(String(buffer: prebuilt.body)))
    }
}
