import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// Tier 1: the framing rules the decoder leaves to Gatehouse (SPEC "Routing").
@Suite struct RequestHeadValidatorTests {
    static func head(_ headers: [(String, String)], method: HTTPMethod = .POST) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: "/_api/x", headers: HTTPHeaders(headers))
    }

    @Test func acceptsStrictFraming() {
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a")])) == nil)
        #expect(RequestHeadValidator.validate(Self.head([("host", "a"), ("Content-Length", "0")])) == nil)
        #expect(RequestHeadValidator.validate(Self.head([("HOST", "a"), ("content-length", "12345")])) == nil)
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Transfer-Encoding", "chunked")])) == nil)
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Transfer-Encoding", "Chunked")])) == nil)
    }

    @Test func hostMustAppearExactlyOnce() {
        #expect(RequestHeadValidator.validate(Self.head([])) == .hostCount)
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("host", "a")])) == .hostCount)
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Host", "b")])) == .hostCount)
    }

    @Test func transferEncodingOnlyASingleChunked() {
        for te in ["gzip, chunked", "chunked, chunked", "identity", "chunked;x=1", "gzip", "", "chunked, gzip", "xchunked"] {
            #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Transfer-Encoding", te)])) == .transferEncoding, "\(te)")
        }
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")])) == .transferEncoding)
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Transfer-Encoding", "chunked"), ("Content-Length", "5")])) == .transferEncoding)
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Content-Length", "5"), ("Transfer-Encoding", "chunked")])) == .transferEncoding)
    }

    @Test func contentLengthOnlyDigitsOnce() {
        for cl in ["+5", "-5", "5 ", " 5", "5,5", "5, 5", "0x10", "", "1e3", "١٢", String(repeating: "9", count: 19)] {
            #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Content-Length", cl)])) == .contentLength, "\(cl)")
        }
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Content-Length", "5"), ("Content-Length", "5")])) == .contentLength)
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Content-Length", "5"), ("Content-Length", "6")])) == .contentLength)
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Content-Length", String(repeating: "9", count: 18))])) == nil)
    }

    @Test func declaredLength() {
        #expect(RequestHeadValidator.declaredLength(Self.head([("Host", "a")])) == 0)
        #expect(RequestHeadValidator.declaredLength(Self.head([("Host", "a"), ("Content-Length", "42")])) == 42)
        #expect(RequestHeadValidator.declaredLength(Self.head([("Host", "a"), ("Transfer-Encoding", "chunked")])) == nil)
    }
}
