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
}
