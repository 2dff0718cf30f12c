import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// A head's `String`s reuse the last head's where the bytes repeat at the same position
/// (``DecodedFields``): what is decoded stays exactly NIO's whatever changes between heads
/// on one connection, and what repeats is shared, not made again — up to the size bound.
@Suite struct DecodedFieldsTests {
    static let token = "Bearer " + String(repeating: "t0k3n.", count: 12)
    static let agent = "User-Agent: gatehouse-tests/1.0 (long enough to be allocated)\r\n"

    /// One connection's requests, each changing something against the one before.
    static var requests: [UInt8] {
        let same = "GET /_api/v1/the/same/long/path HTTP/1.1\r\nHost: app.example.com\r\nAuthorization: \(token)\r\n\(agent)"
        var bytes: [UInt8] = []
        func add(_ text: String) { bytes += Array(text.utf8) }
        add(same + "X-V: ")
        bytes += [0xFF, 0xFE]  // not UTF-8: repaired to U+FFFD twice
        add(" value\r\nEmpty:\r\n\r\n")
        // The same head again.
        add(same + "X-V: ")
        bytes += [0xFF, 0xFE]
        add(" value\r\nEmpty:\r\n\r\n")
        // The repaired form sent as such; a name in another case; one byte of the token
        // changed (same length); an empty value filled.
        add("GET /_api/v1/the/same/long/path HTTP/1.1\r\nhost: app.example.com\r\nAuthorization: \(token.dropLast())X\r\n\(agent)X-V: ")
        bytes += [0xEF, 0xBF, 0xBD, 0xEF, 0xBF, 0xBD]
        add(" value\r\nEmpty: x\r\n\r\n")
        // A field inserted first: every position shifts.
        add("GET /_api/v1/the/same/long/path/2 HTTP/1.1\r\nX-First: 1\r\nHost: app.example.com\r\nAuthorization: \(token)\r\n\(agent)\r\n")
        // Fields gone; a value that is a prefix of the last one at its position.
        add("GET /_api/v1/the/same/long/path HTTP/1.1\r\nX-First: 1\r\nHost: app.example\r\n\r\n")
        // Over the bound, twice; then the first head again.
        let large = "GET /_api/v1/large HTTP/1.1\r\nHost: app.example.com\r\nX-Large: \(String(repeating: "L", count: 5000))\r\n\(agent)\r\n"
        add(large)
        add(large)
        add(same + "X-V: v\r\n\r\n")
        return bytes
    }

    static let responses = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 02:10:33 GMT\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\nok"
        + "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 02:10:33 GMT\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\nok"
        + "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 02:10:34 GMT\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 3\r\n\r\nyes"
        + "HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nno"
        + "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 02:10:34 GMT\r\nContent-Type: application/json; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: application/json; charset=utf-8\r\n\r\n"

    @Test func headsOnOneConnectionDecodeAsNIOsWhateverRepeats() throws {
        try DecodingHandlerTests.same({
            try DecodingHandlerTests.requestEvents($0) { channel, _ in try channel.writeInbound(ByteBuffer(bytes: Self.requests)) }
        }, "requests whole")
        try DecodingHandlerTests.same({
            try DecodingHandlerTests.requestEvents($0) { channel, _ in
                for byte in Self.requests { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
            }
        }, "requests byte by byte")
        try DecodingHandlerTests.same({
            try DecodingHandlerTests.responseEvents($0, requests: [.GET, .GET, .GET, .GET, .GET]) { channel, _ in
                try channel.writeInbound(ByteBuffer(string: Self.responses))
            }
        }, "responses whole")
        try DecodingHandlerTests.same({
            try DecodingHandlerTests.responseEvents($0, requests: [.GET, .GET, .GET, .GET, .GET]) { channel, _ in
                for byte in Self.responses.utf8 { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
            }
        }, "responses byte by byte")
    }

    /// Keeps the heads a decoder hands over (by direct call, or through the pipeline).
    final class Heads: ChannelInboundHandler, DecodedRequestReceiver, DecodedResponseReceiver {
        typealias InboundIn = Any
        var requests: [HTTPRequestHead] = []
        var responses: [HTTPResponseHead] = []
        /// The hop-by-hop scan handed with each response head.
        var scans: [HeaderHygiene.HopByHopScan?] = []
        /// NIO's decoder's parts, through the pipeline.
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let part = Self.unwrapInboundIn(data) as? HTTPServerRequestPart { _ = decoded(part) }
        }
        func decoded(_ part: HTTPServerRequestPart) -> Bool {
            if case .head(let head) = part { requests.append(head) }
            return true
        }
        func decoded(_ part: HTTPClientResponsePart, keepAlive: Bool, fields: HeaderHygiene.HopByHopScan?) -> Bool {
            if case .head(let head) = part {
                responses.append(head)
                scans.append(fields)
            } else {
                #expect(fields == nil, "a scan handed with a body or end")
            }
            return true
        }
    }

    /// Where a string longer than 15 bytes keeps its UTF-8 (shorter ones are held inline).
    static func storage(_ string: String) -> UInt? {
        string.utf8.withContiguousStorageIfAvailable { UInt(bitPattern: $0.baseAddress) }
    }

    static func field(_ head: HTTPRequestHead, _ name: String) -> String { head.headers[name].first ?? "" }

    @Test func aRepeatedFieldSharesTheLastHeadsString() throws {
        let heads = Heads()
        let decoding = HTTPRequestDecodingHandler(HTTPMessageDecoder(.request))
        decoding.decoder.requestReceiver = heads
        let channel = EmbeddedChannel(handlers: [decoding, heads])
        try channel.writeInbound(ByteBuffer(bytes: Self.requests))
        _ = try? channel.finish()
        let requests = heads.requests
        try #require(requests.count == 8)
        let (first, again, changed, shifted) = (requests[0], requests[1], requests[2], requests[3])

        #expect(Self.field(again, "Authorization") == Self.token)
        #expect(Self.storage(Self.field(again, "Authorization")) == Self.storage(Self.field(first, "Authorization")))
        #expect(Self.storage(Self.field(again, "User-Agent")) == Self.storage(Self.field(first, "User-Agent")))
        #expect(Self.storage(again.uri) == Self.storage(first.uri))

        // Changed at the same length: a string of its own; what stayed is still shared.
        #expect(Self.field(changed, "Authorization") == Self.token.dropLast() + "X")
        #expect(Self.storage(Self.field(changed, "Authorization")) != Self.storage(Self.field(first, "Authorization")))
        #expect(Self.storage(Self.field(changed, "User-Agent")) == Self.storage(Self.field(first, "User-Agent")))
        #expect(Self.field(changed, "X-V") == "\u{FFFD}\u{FFFD} value")

        // Shifted one position: compared where it stood, so made again (and still right).
        #expect(Self.field(shifted, "Authorization") == Self.token)
        #expect(Self.storage(Self.field(shifted, "Authorization")) != Self.storage(Self.field(first, "Authorization")))

        // A head over the bound is not kept: its repeat makes its own strings.
        let (large, largeAgain, last) = (requests[5], requests[6], requests[7])
        #expect(Self.field(largeAgain, "X-Large") == Self.field(large, "X-Large"))
        #expect(Self.storage(Self.field(largeAgain, "X-Large")) != Self.storage(Self.field(large, "X-Large")))
        #expect(Self.storage(Self.field(largeAgain, "User-Agent")) != Self.storage(Self.field(large, "User-Agent")))
        #expect(Self.field(last, "User-Agent") == Self.field(first, "User-Agent"))

        // Every head was held while the ones after it were decoded (their storage shared or
        // emptied for reuse): each still has exactly the fields NIO's decoder gives it.
        let nio = Heads()
        let nioChannel = EmbeddedChannel(handlers: [ByteToMessageHandler(HTTPRequestDecoder()), nio])
        try nioChannel.writeInbound(ByteBuffer(bytes: Self.requests))
        _ = try? nioChannel.finish()
        #expect(nio.requests.count == requests.count)
        for (ours, theirs) in zip(requests, nio.requests) {
            #expect(ours.uri == theirs.uri)
            #expect(ours.headers.map { "\($0.name): \($0.value)" } == theirs.headers.map { "\($0.name): \($0.value)" })
        }
    }

    /// Feeds a head of `count` fields `N<i>: <value>` and takes it.
    static func head(_ count: Int, _ value: String, into fields: DecodedFields) -> [(String, String)] {
        for index in 0..<count {
            Array("N\(index)".utf8).withUnsafeBytes { fields.setName($0, inHead: true) }
            Array(value.utf8).withUnsafeBytes { fields.appendValue($0) }
        }
        return fields.takeHead(headBytes: 100).fields
    }

    /// Where an array of fields keeps its elements.
    static func storage(_ fields: [(String, String)]) -> UInt? {
        fields.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    }

    static func lines(_ fields: [(String, String)]) -> [String] { fields.map { "\($0.0): \($0.1)" } }

    /// The next head is built over the last one once it is gone, in its array (no
    /// allocation, nothing copied); while it lives it keeps its fields, and a head equal
    /// to it shares its array; room for many fields is not kept.
    @Test func aHeadIsBuiltOverTheLastOnceItIsGone() throws {
        let fields = DecodedFields()
        var first: [(String, String)]? = Self.head(3, "first", into: fields)
        let firstStorage = Self.storage(try #require(first))
        first = nil
        // Gone: built over in place, fewer fields than before.
        let second = Self.head(2, "second", into: fields)
        #expect(Self.storage(second) == firstStorage)
        #expect(Self.lines(second) == ["N0: second", "N1: second"])

        // Still held: the next head is written into a copy, and the held one keeps its fields.
        let third = Self.head(3, "third", into: fields)
        #expect(Self.storage(third) != Self.storage(second))
        #expect(Self.lines(second) == ["N0: second", "N1: second"])
        #expect(Self.lines(third) == ["N0: third", "N1: third", "N2: third"])

        // The same fields again, the last head held: nothing written, the array shared.
        let again = Self.head(3, "third", into: fields)
        #expect(Self.storage(again) == Self.storage(third))
        // One field fewer, the last head held: a copy, and both keep their fields.
        let shorter = Self.head(2, "third", into: fields)
        #expect(Self.storage(shorter) != Self.storage(again))
        #expect(Self.lines(again) == ["N0: third", "N1: third", "N2: third"])
        #expect(Self.lines(shorter) == ["N0: third", "N1: third"])

        // Room for more than `keptCapacity` fields is not built over: the next head after
        // such a head is made in fresh storage.
        var many: [(String, String)]? = Self.head(DecodedFields.keptCapacity + 1, "many", into: fields)
        let manyStorage = Self.storage(try #require(many))
        many = nil
        let after = Self.head(1, "after", into: fields)
        #expect(Self.storage(after) != manyStorage)
        #expect(after.capacity < DecodedFields.keptCapacity)
        #expect(Self.lines(after) == ["N0: after"])
    }

    /// What Gatehouse's response decoder, wired as in production, hands over for
    /// `responses`, each answering a `GET` written first.
    static func decodeResponses(_ responses: String, count: Int) throws -> Heads {
        let heads = Heads()
        let decoding = HTTPResponseDecodingHandler(HTTPMessageDecoder(.response))
        decoding.decoder.responseReceiver = heads
        let channel = EmbeddedChannel(handlers: [decoding, heads])
        for _ in 0..<count {
            try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/r")))
        }
        try channel.writeInbound(ByteBuffer(string: responses))
        _ = try? channel.finish()
        return heads
    }

    @Test func aRepeatedResponseFieldSharesTheLastHeadsString() throws {
        let responses = try Self.decodeResponses(Self.responses, count: 5).responses
        try #require(responses.count == 5)
        func value(_ index: Int, _ name: String) -> String { responses[index].headers[name].first ?? "" }

        #expect(Self.storage(value(1, "Content-Type")) == Self.storage(value(0, "Content-Type")))
        #expect(Self.storage(value(1, "Date")) == Self.storage(value(0, "Date")))
        #expect(value(2, "Date") == "Fri, 27 Nov 2026 02:10:34 GMT")
        #expect(Self.storage(value(2, "Date")) != Self.storage(value(0, "Date")))
        #expect(Self.storage(value(2, "Content-Type")) == Self.storage(value(0, "Content-Type")))
        #expect(value(3, "Content-Type") == "text/html")
        #expect(value(4, "Content-Type") == "application/json; charset=utf-8")
    }

    /// Each response head comes with its fields' hop-by-hop scan, made as they were decoded:
    /// the one a walk over the head's fields makes, field for field, whatever the last head
    /// held (the scan starts afresh with each head).
    @Test func aResponseHeadComesWithItsFieldsScan() throws {
        let responses = "HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"
            + "HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok"
            + "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
            + "HTTP/1.1 204 No Content\r\nServer: nginx\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nContent-Length: 0\r\n\r\n"
        let heads = try Self.decodeResponses(responses, count: 5)
        try #require(heads.responses.count == 5 && heads.scans.count == 5)
        for (head, scan) in zip(heads.responses, heads.scans) {
            var walked = HeaderHygiene.HopByHopScan()
            for (name, value) in head.headers { _ = walked.note(name, value) }
            #expect(scan == walked, "\(head.headers)")
        }
        #expect(heads.scans.map { $0?.keepsFields(keepingKeepAlive: true) } == [true, false, true, true, false])
        #expect(heads.scans.map { $0?.codingPasses } == [true, true, false, true, true])
    }
}
