@testable import GatehouseProxy
import Testing

/// The head tokenizer, whose tag names are packed into integers, against the reference it
/// was rewritten from (`ReferenceHTMLHeadTokenizer`: an array per name, a `String` switch
/// per tag): random documents built from the pieces that steer it must give the same
/// tokens at the same offsets, byte for byte.
@Suite struct HTMLHeadTokenizerTests {
    /// Pieces that change the tokenizer's state: every tag name it tells apart (in both
    /// cases, and one byte longer or shorter), raw-text ends, comments, doctypes, quotes,
    /// the marker attribute and its look-alikes, a byte order mark, bytes above ASCII.
    static let pieces: [[UInt8]] = [
        "<", ">", "/", "</", "<!", "<!--", "-->", "--", "-", "<?", "!", "=", "\"", "'", " ", "\n", "\t", "\u{0C}", "\r",
        "html", "HTML", "head", "HEAD", "Head", "header", "hea", "body", "frameset", "script", "SCRIPT", "scrip",
        "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext", "PLAINTEXT",
        "plaintexts", "abcdefghij", "abcdefghijk", "abcdefghijklmnopq", "x", "p",
        "</script", "</SCRIPT>", "</title ", "</style/", "</textarea>", "</xmp",
        "doctype", "DOCTYPE", "docty", "<!DOCTYPE html>", "<!doctypex",
        "data-gatehouse", "DATA-GATEHOUSE", "data-gatehousekeeper", "data-gate", "class=a", "x='<head>'", "y=\"a>b\"",
        "text", "a<b",
    ].map { Array($0.utf8) } + [[0xEF, 0xBB, 0xBF], [0xEF, 0xBB], [0xC3, 0xA9], [0x00], [0xFF]]

    struct Token: Equatable, CustomStringConvertible {
        var token: HTMLHeadToken
        var at: Int
        var description: String { "\(token)@\(at)" }
    }

    static func tokens(_ document: [UInt8]) -> (tokens: [Token], offset: Int, byteOrderMark: Int) {
        run(HTMLHeadTokenizer(), over: document)
    }

    static func referenceTokens(_ document: [UInt8]) -> (tokens: [Token], offset: Int, byteOrderMark: Int) {
        run(ReferenceHTMLHeadTokenizer(), over: document)
    }

    static func run<T: HeadTokenizing>(_ tokenizer: T, over document: [UInt8]) -> (tokens: [Token], offset: Int, byteOrderMark: Int) {
        var tokenizer = tokenizer
        var tokens: [Token] = []
        for (at, byte) in document.enumerated() {
            if let token = tokenizer.consume(byte) { tokens.append(Token(token: token, at: at)) }
        }
        return (tokens, tokenizer.offset, tokenizer.byteOrderMarkLength)
    }

    @Test(arguments: 0..<40)
    func randomDocumentsGiveTheReferenceTokens(seed: Int) {
        var random = RequestSequenceModelTests.SplitMix(state: UInt64(seed) &* 0x5851_F42D_4C95_7F2D)
        for _ in 0..<250 {
            var document: [UInt8] = []
            for _ in 0..<Int.random(in: 1...40, using: &random) {
                document += Self.pieces[Int.random(in: 0..<Self.pieces.count, using: &random)]
            }
            let packed = Self.tokens(document)
            let reference = Self.referenceTokens(document)
            #expect(packed.tokens == reference.tokens, "\(String(decoding: document, as: UTF8.self).debugDescription)")
            #expect(packed.offset == reference.offset && packed.byteOrderMark == reference.byteOrderMark)
        }
    }

    /// Every name the tokenizer tells apart, in every case mix the pieces above do not
    /// reach, and names that share a prefix or a length with one of them.
    @Test(arguments: [
        ("html", HTMLTagName.html), ("HtMl", .html), ("head", .head), ("hEAD", .head), ("body", .body),
        ("FrameSet", .body), ("script", .script), ("style", .rawText), ("title", .rawText), ("textarea", .rawText),
        ("xmp", .rawText), ("iframe", .rawText), ("noembed", .rawText), ("noframes", .rawText),
        ("noscript", .rawText), ("plaintext", .plaintext), ("heads", .other), ("htm", .other), ("bodyy", .other),
        ("scripts", .other), ("plaintex", .other), ("plaintextt", .other), ("noscripts", .other), ("a", .other),
        ("abcdefghij", .other), ("abcdefghijk", .other), ("headheadhead", .other),
    ])
    func tagNames(name: String, expected: HTMLTagName) {
        let result = Self.tokens(Array("<\(name) a=b>".utf8))
        #expect(result.tokens == [Token(token: .startTag(expected, marked: false, end: name.utf8.count + 6), at: name.utf8.count + 5)])
        #expect(result.tokens == Self.referenceTokens(Array("<\(name) a=b>".utf8)).tokens)
    }

    @Test func packedNamesKeepTheirBytesAndCountPastTheirCapacity() {
        var name = HTMLTagNameBytes()
        let text = Array("abcdefghijklmnopqrs".utf8)
        for byte in text { name.append(byte) }
        #expect(name.count == text.count)
        for index in 0..<HTMLTagNameBytes.capacity { #expect(name[index] == text[index]) }
        #expect(HTMLTagNameBytes("plaintext") != HTMLTagNameBytes("plaintexs"))
        #expect(HTMLTagNameBytes("abcdefgh") != HTMLTagNameBytes("abcdefgh\u{0}"))
    }
}

/// What the two tokenizers compared above have in common.
protocol HeadTokenizing {
    mutating func consume(_ byte: UInt8) -> HTMLHeadToken?
    var offset: Int { get }
    var byteOrderMarkLength: Int { get }
}

extension HTMLHeadTokenizer: HeadTokenizing {}
extension ReferenceHTMLHeadTokenizer: HeadTokenizing {}
