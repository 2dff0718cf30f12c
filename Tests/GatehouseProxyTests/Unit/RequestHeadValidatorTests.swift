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

    /// The inspection finds the `Authorization` fields the gate reads (so the gate does not
    /// walk the fields again): none, the one value, or several — in any case of the name.
    @Test func inspectionFindsTheAuthorizationFields() {
        let cases: [([(String, String)], AuthorizationField)] = [
            ([("Host", "a")], .none),
            ([("Host", "a"), ("Authorization", "Bearer t")], .one("Bearer t")),
            ([("AUTHORIZATION", "Bearer u"), ("Host", "a")], .one("Bearer u")),
            ([("Host", "a"), ("authorization", "Bearer t"), ("Authorization", "Bearer t")], .several),
            ([("Host", "a"), ("Authorizations", "x"), ("Proxy-Authorization", "y"), ("X-Authorization", "z")], .none),
        ]
        for (fields, expected) in cases {
            let head = Self.head(fields)
            #expect(RequestHeadValidator.inspect(head).authorization == expected, "\(fields)")
            #expect(AuthorizationField(head.headers) == expected, "\(fields)")
        }
    }

    @Test func traceWithoutContentOnly() {
        func trace(_ fields: [(String, String)]) -> RequestHeadValidator.Violation? {
            RequestHeadValidator.validate(HTTPRequestHead(version: .http1_1, method: .TRACE, uri: "/", headers: HTTPHeaders([("Host", "a")] + fields)))
        }
        #expect(trace([]) == nil)
        #expect(trace([("Content-Length", "0")]) == nil)
        #expect(trace([("Content-Length", "1")]) == .traceContent)
        #expect(trace([("Transfer-Encoding", "chunked")]) == .traceContent)
        // Other methods may carry content.
        #expect(RequestHeadValidator.validate(Self.head([("Host", "a"), ("Content-Length", "1")])) == nil)
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

    /// The one walk gives what NIO's own look-ups give, field by field, and the verdicts of
    /// the rules above, whatever the fields' case, order and repetition.
    @Test func inspectionReadsWhatSeparateLookUpsRead() {
        let heads: [[(String, String)]] = [
            [("Host", "a")],
            [("Accept", "*/*"), ("HOST", "first"), ("host", "second"), ("Expect", "100-continue"), ("expect", "other")],
            [("Host", "a"), ("UPGRADE", "websocket"), ("Connection", "Upgrade")],
            [("Host", "a"), ("Content-Length", "42"), ("content-length", "7")],
            [("Host", "a"), ("Content-Length", "x1")],
            [("Host", "a"), ("Transfer-Encoding", " Chunked "), ("X-Upgrade", "no"), ("Upgrades", "no")],
            [("Host", "a"), ("transfer-encoding", "gzip"), ("Transfer-Encoding", "chunked")],
            [("Host", "a"), ("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
            [("Expect", "100-Continue"), ("X-Host", "b"), ("Hosts", "c")],
            [],
        ]
        for fields in heads {
            let head = Self.head(fields)
            let facts = RequestHeadValidator.inspect(head)
            #expect(facts.host == head.headers.first(name: "host"), "\(fields)")
            #expect(facts.expect == head.headers.first(name: "expect"), "\(fields)")
            #expect(facts.hasUpgrade == head.headers.contains(name: "upgrade"), "\(fields)")
            let separately: Int? = head.headers.contains(name: "transfer-encoding") ? nil : Int(head.headers.first(name: "content-length") ?? "0") ?? 0
            #expect(facts.declaredLength == separately, "\(fields)")
        }
        #expect(RequestHeadValidator.inspect(Self.head(heads[1])).violation == .hostCount)
        #expect(RequestHeadValidator.inspect(Self.head(heads[3])).declaredLength == 42)
        #expect(RequestHeadValidator.inspect(Self.head(heads[5])).violation == nil)
        #expect(RequestHeadValidator.inspect(Self.head(heads[6])).violation == .transferEncoding)
    }
}

/// The literal compare (`StaticString`, what nearly every call passes) answers as the
/// `String` one, for `String`s and `Substring`s, small and large, every ASCII case and
/// non-ASCII bytes.
@Suite struct CaseInsensitiveEqualsTests {
    @Test func literalAndStringComparesAgree() {
        let subjects = [
            "content-length", "Content-Length", "CONTENT-LENGTH", "content-lengtH", "content-lengths", "content_length",
            "Transfer-Encoding", "transfer-encodinG", "", "te", "TE", "tE", "t", "x-gatehouse-user-with-a-long-tail-ok",
            "Content-Lengt\u{e9}", "\u{c9}", "host", "HOST", "hosT ", "[ost", "@OST",
        ]
        var agreed = 0
        for subject in subjects {
            for substring in [Substring(subject), ("..." + subject + "...").dropFirst(3).dropLast(3)] {
                let pairs: [(Bool, Bool)] = [
                    (subject.caseInsensitiveEquals("content-length"), subject.caseInsensitiveEquals(String("content-length"))),
                    (subject.caseInsensitiveEquals("transfer-encoding"), subject.caseInsensitiveEquals(String("transfer-encoding"))),
                    (subject.caseInsensitiveEquals("te"), subject.caseInsensitiveEquals(String("te"))),
                    (subject.caseInsensitiveEquals("host"), subject.caseInsensitiveEquals(String("host"))),
                    (subject.caseInsensitiveEquals(""), subject.caseInsensitiveEquals(String(""))),
                    (substring.caseInsensitiveEquals("content-length"), substring.caseInsensitiveEquals(String("content-length"))),
                    (substring.caseInsensitiveEquals("host"), substring.caseInsensitiveEquals(String("host"))),
                ]
                for (literal, string) in pairs {
                    #expect(literal == string, "\(subject)")
                    agreed += 1
                }
            }
        }
        #expect(agreed == subjects.count * 2 * 7)
        #expect("Content-Length".caseInsensitiveEquals("content-length"))
        #expect(!"Content-Lengt\u{e9}".caseInsensitiveEquals("content-length"))
        #expect(Substring("HoSt").caseInsensitiveEquals("host"))
        #expect(!"[ost".caseInsensitiveEquals("host"))
    }
}

/// `Connection` options: the lone `keep-alive`/`close` answered without the token walk,
/// the same as the walk answers (the model: the walk alone).
@Suite struct ConnectionOptionsTests {
    @Test func fastAnswersAgreeWithTheWalk() {
        let values = [
            "keep-alive", "Keep-Alive", "KEEP-ALIVE", "close", "Close", " keep-alive", "keep-alive ", "close, keep-alive",
            "keep-alive, Upgrade", "Upgrade", "x-keep-alive", "keep-alivex", "", ",", "close,", "\tclose\t", "te, close",
        ]
        for value in values {
            var options = ConnectionOptions()
            options.add(value)
            var walked = (close: false, keepAlive: false)
            HeaderHygiene.forEachPiece(of: value, separatedBy: UInt8(ascii: ",")) { piece in
                let token = piece.trimmingASCIISpaces()
                if token.caseInsensitiveEquals("close") { walked.close = true } else if token.caseInsensitiveEquals("keep-alive") { walked.keepAlive = true }
            }
            #expect(options.close == walked.close && options.keepAlive == walked.keepAlive, "\(value)")
        }
        var both = ConnectionOptions()
        both.add("keep-alive")
        both.add("Close")
        #expect(both.close && both.keepAlive)
    }
}
