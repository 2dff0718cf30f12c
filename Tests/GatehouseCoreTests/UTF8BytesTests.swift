import GatehouseCore
import Testing

/// The in-place byte helpers the request path's scans share.
@Suite struct UTF8BytesTests {
    @Test func bytesAreTheStringsAndTheSlicesOwn() {
        let text = "héllo, wörld"
        #expect(text.withUTF8Bytes { Array($0) } == Array(text.utf8))
        let slice = text.dropFirst(3).prefix(4)
        #expect(slice.withUTF8Bytes { Array($0) } == Array(slice.utf8))
        #expect("".withUTF8Bytes { $0.count } == 0)
    }

    @Test func optionalWhitespaceIsTrimmedFromBothEnds() {
        func trimmed(_ text: String) -> String {
            text.withUTF8Bytes { bytes in String(decoding: UnsafeBufferPointer(rebasing: bytes[bytes.trimmingOWS(0..<bytes.count)]), as: UTF8.self) }
        }
        #expect(trimmed(" \t a b \t ") == "a b")
        #expect(trimmed("ab") == "ab")
        #expect(trimmed(" \t ") == "")
        #expect(trimmed("") == "")
        #expect(trimmed("\u{a0}a\n") == "\u{a0}a\n")
    }

    @Test func comparisonIgnoresASCIICaseOnly() {
        func equal(_ text: String, _ lowercase: StaticString) -> Bool {
            text.withUTF8Bytes { $0.equalsIgnoringASCIICase(0..<$0.count, lowercase) }
        }
        #expect(equal("Text/HTML", "text/html"))
        #expect(equal("text/html", "text/html"))
        #expect(!equal("text/htm", "text/html"))
        #expect(!equal("text/htmll", "text/html"))
        #expect(!equal("text\u{0}html", "text/html"))
        #expect(!equal("TEXT/HTML", "text/htmx"))
        #expect(!equal("[", "{"))  // `[` | 0x20 is `{`: only letters fold
    }

    @Test func piecesAreTheRunsBetweenSeparators() {
        func pieces(_ text: String) -> [String] {
            text.withUTF8Bytes { bytes in
                var out: [String] = []
                bytes.forEachPiece(separatedBy: UInt8(ascii: ",")) { out.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[$0]), as: UTF8.self)) }
                return out
            }
        }
        #expect(pieces("a,b, c") == ["a", "b", " c"])
        #expect(pieces(",a,,b,") == ["", "a", "", "b"])
        #expect(pieces("") == [])
        #expect(pieces(",") == [""])
        #expect(pieces("é,ü") == ["é", "ü"])
    }

    @Test func chosenRangesAreJoinedInOneString() {
        func joined(_ text: String, keeping keep: (String) -> Bool) -> String {
            text.withUTF8Bytes { bytes in
                bytes.joined(separator: UInt8(ascii: ";")) { body in
                    bytes.forEachPiece(separatedBy: UInt8(ascii: ",")) { range in
                        if keep(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)) { body(range) }
                    }
                }
            }
        }
        #expect(joined("a,b,c") { _ in true } == "a; b; c")
        #expect(joined("a,b,c") { $0 != "b" } == "a; c")
        #expect(joined("a,b,c") { _ in false } == "")
        #expect(joined(",a,") { _ in true } == "; a", "an empty first piece still takes the separator after it")
        #expect(joined("ä,ö") { $0 == "ö" } == "ö")
    }

    @Test func prefixesAndEqualityAreByteForByte() {
        func check(_ text: String, _ body: (UnsafeBufferPointer<UInt8>, Range<Int>) -> Bool) -> Bool {
            text.withUTF8Bytes { body($0, 0..<$0.count) }
        }
        #expect(check("__session_x") { $0.hasPrefix($1, "__session_") })
        #expect(!check("__SESSION_x") { $0.hasPrefix($1, "__session_") })
        #expect(!check("__sessio") { $0.hasPrefix($1, "__session") })
        #expect(check("__session") { $0.equals($1, "__session") })
        #expect(!check("__session ") { $0.equals($1, "__session") })
        #expect(check("") { $0.equals($1, "") })
    }

    @Test func aBytesOffsetIsFoundFromWhereTheSearchStarts() {
        "a.b..c".withUTF8Bytes { bytes in
            let dot = UInt8(ascii: ".")
            #expect(bytes.offset(of: dot) == 1)
            #expect(bytes.offset(of: dot, from: 1) == 1)
            #expect(bytes.offset(of: dot, from: 2) == 3)
            #expect(bytes.offset(of: dot, from: 4) == 4)
            #expect(bytes.offset(of: dot, from: 5) == nil)
            #expect(bytes.offset(of: dot, from: 6) == nil, "past the end")
            #expect(bytes.offset(of: UInt8(ascii: "c")) == 5, "the last byte")
        }
        "".withUTF8Bytes { #expect($0.offset(of: 0) == nil) }
    }
}
