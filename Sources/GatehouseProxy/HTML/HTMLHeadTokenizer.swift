/// What the injector needs to know about the start of an HTML document, one token at a time.
enum HTMLHeadToken: Equatable {
    /// A start tag ended; `end` is the offset just after its `>`. `marked`: it carries a
    /// `data-gatehouse` attribute (SPEC "HTML injection": chained sidecars inject once).
    case startTag(HTMLTagName, marked: Bool, end: Int)
    /// `<!DOCTYPE …>` ended at `end`.
    case doctype(end: Int)
    /// Anything else that is more than white space or a comment: text, an end tag,
    /// another markup declaration.
    case content
}

/// The start-tag names the injector tells apart; every other name is `.other`.
enum HTMLTagName: Equatable {
    case html, head, body, script, rawText, plaintext, other

    /// From a lowercased tag name. `rawText` covers the elements whose content is not
    /// markup (WHATWG HTML §13.1.2: raw text and escapable raw text elements, plus
    /// `noembed`/`noframes`/`noscript`), so a `<head>` inside them is not a tag.
    init(_ name: HTMLTagNameBytes) {
        switch name {
        case Known.html: self = .html
        case Known.head: self = .head
        case Known.body, Known.frameset: self = .body
        case Known.script: self = .script
        case Known.style, Known.title, Known.textarea, Known.xmp, Known.iframe,
             Known.noembed, Known.noframes, Known.noscript: self = .rawText
        case Known.plaintext: self = .plaintext
        default: self = .other
        }
    }

    private enum Known {
        static let html = HTMLTagNameBytes("html")
        static let head = HTMLTagNameBytes("head")
        static let body = HTMLTagNameBytes("body")
        static let frameset = HTMLTagNameBytes("frameset")
        static let script = HTMLTagNameBytes("script")
        static let style = HTMLTagNameBytes("style")
        static let title = HTMLTagNameBytes("title")
        static let textarea = HTMLTagNameBytes("textarea")
        static let xmp = HTMLTagNameBytes("xmp")
        static let iframe = HTMLTagNameBytes("iframe")
        static let noembed = HTMLTagNameBytes("noembed")
        static let noframes = HTMLTagNameBytes("noframes")
        static let noscript = HTMLTagNameBytes("noscript")
        static let plaintext = HTMLTagNameBytes("plaintext")
    }
}

/// A tag name of up to 16 bytes packed into two integers, so that telling tags apart is
/// integer compares: it was a `String` built and switched over per tag, and an array
/// kept per tokenizer (2,900 instructions of a 9,200-instruction scan of a page's head).
struct HTMLTagNameBytes: Equatable {
    static let capacity = 16
    private var low: UInt64 = 0
    private var high: UInt64 = 0
    /// Bytes appended; past ``capacity`` they are counted but not kept.
    private(set) var count = 0

    init() {}

    init(_ text: StaticString) {
        text.withUTF8Buffer { bytes in
            for byte in bytes { append(byte) }
        }
    }

    mutating func append(_ byte: UInt8) {
        if count < 8 {
            low |= UInt64(byte) << (8 * count)
        } else if count < Self.capacity {
            high |= UInt64(byte) << (8 * (count - 8))
        }
        count += 1
    }

    /// The byte at `index` (`0..<min(count, capacity)`).
    subscript(index: Int) -> UInt8 {
        index < 8 ? UInt8(truncatingIfNeeded: low >> (8 * index)) : UInt8(truncatingIfNeeded: high >> (8 * (index - 8)))
    }
}

/// A resumable, byte-at-a-time HTML tokenizer for the first bytes of a document: just
/// enough of WHATWG HTML §13.2.5 to find the opening `<html>` and `<head>` tags without
/// being fooled by comments (`<!-- <head> -->`), longer names (`<header>`, `<heading>`),
/// quoted attribute values (`<meta content="<head>">`) or the text of raw-text elements
/// (`<script>"<head>"</script>`).
///
/// Bytes may arrive split anywhere: every bit of progress lives in the value, so feeding a
/// document in any chunking yields the same tokens. A value type with no I/O; the injector
/// runs it on the connection's event loop, and only over the first 64 KiB of a response.
struct HTMLHeadTokenizer {
    /// Longest tag name worth remembering; longer ones are none of the names above.
    private static let maxName = 10
    /// Literals, not arrays: no allocation or lazy global per byte.
    private static var marker: StaticString { "data-gatehouse" }
    private static var doctype: StaticString { "doctype" }

    private enum State {
        case data
        /// After `<`.
        case tagOpen
        /// After `</`.
        case endTagOpen
        /// After `<!`: `matched` bytes of `--` or of `doctype` seen so far.
        case markupDeclaration(matched: Int, comment: Bool)
        /// Inside `<!-- … -->`; `dashes` is how many `-` were just seen.
        case comment(dashes: Int)
        /// Until the next `>`: end tags, `<?…>`, `<!…>`; `doctype` when it is `<!DOCTYPE`.
        case bogus(doctype: Bool)
        /// Collecting a start tag's name.
        case tagName
        /// Inside a start tag, after its name.
        case attributes(Attribute)
        /// Inside a raw-text element: `matched` bytes of `</name` seen so far.
        case rawText(matched: Int)
        /// `<plaintext>`: nothing after it is markup.
        case plaintext
    }

    private enum Attribute {
        case beforeName
        case name
        case afterName
        case beforeValue
        case quoted(UInt8)
        case unquoted
    }

    private var state = State.data
    /// The next byte's offset in the document.
    private(set) var offset = 0
    /// How much of a leading UTF-8 byte order mark was seen (3: all of it).
    private(set) var byteOrderMarkLength = 0
    private var name = HTMLTagNameBytes()
    /// The name of the raw-text element being skipped.
    private var rawTextName = HTMLTagNameBytes()
    /// The current attribute name matches `data-gatehouse` so far (`nil`: it does not).
    private var markerMatched: Int? = 0
    private var marked = false

    /// Consumes one byte; returns the token it completes, if any. Inlined into the state
    /// machine's scan loop (its one caller), which calls it for every byte before `<head>`:
    /// as a call it was ~60 instructions a byte, 4% of an injected page's.
    @inline(__always)
    mutating func consume(_ byte: UInt8) -> HTMLHeadToken? {
        let at = offset
        offset += 1
        if at < 3, byteOrderMarkLength == at, byte == Self.byteOrderMarkByte(at) {
            byteOrderMarkLength += 1
            return nil
        }
        switch state {
        case .data:
            if byte == UInt8(ascii: "<") {
                state = .tagOpen
                return nil
            }
            return Self.isWhitespace(byte) ? nil : .content

        case .tagOpen:
            if Self.isLetter(byte) {
                name = HTMLTagNameBytes()
                name.append(byte | 0x20)
                marked = false
                state = .tagName
            } else if byte == UInt8(ascii: "!") {
                state = .markupDeclaration(matched: 0, comment: false)
            } else if byte == UInt8(ascii: "/") {
                state = .endTagOpen
            } else if byte == UInt8(ascii: "?") {
                state = .bogus(doctype: false)
            } else {
                // A lone `<` is text.
                state = .data
                return .content
            }
            return nil

        case .endTagOpen:
            state = byte == UInt8(ascii: ">") ? .data : .bogus(doctype: false)
            return byte == UInt8(ascii: ">") ? nil : .content

        case .markupDeclaration(let matched, let comment):
            return markupDeclaration(byte, matched: matched, comment: comment)

        case .comment(let dashes):
            if byte == UInt8(ascii: "-") {
                state = .comment(dashes: dashes + 1)
            } else if byte == UInt8(ascii: ">") && dashes >= 2 {
                state = .data
            } else {
                state = .comment(dashes: 0)
            }
            return nil

        case .bogus(let doctype):
            guard byte == UInt8(ascii: ">") else { return nil }
            state = .data
            return doctype ? .doctype(end: offset) : nil

        case .tagName:
            if Self.isWhitespace(byte) {
                startAttribute(.beforeName)
            } else if byte == UInt8(ascii: "/") {
                startAttribute(.beforeName)
            } else if byte == UInt8(ascii: ">") {
                return endStartTag()
            } else if name.count <= Self.maxName {
                name.append(Self.isUpper(byte) ? byte | 0x20 : byte)
            }
            return nil

        case .attributes(let attribute):
            return self.attribute(byte, attribute)

        case .rawText(let matched):
            rawText(byte, matched: matched)
            return nil

        case .plaintext:
            return nil
        }
    }

    private mutating func markupDeclaration(_ byte: UInt8, matched: Int, comment: Bool) -> HTMLHeadToken? {
        if matched == 0 && byte == UInt8(ascii: "-") {
            state = .markupDeclaration(matched: 1, comment: true)
            return nil
        }
        if comment {
            // `<!-` then `-`: a comment; `<!--` followed at once by `>` or `->` ends it (abrupt
            // closing, as browsers do), hence two dashes counted already.
            state = byte == UInt8(ascii: "-") ? .comment(dashes: 2) : .bogus(doctype: false)
            return nil
        }
        if byte == UInt8(ascii: ">") {
            state = .data
            return .content
        }
        let doctype = Self.doctype
        if matched < doctype.utf8CodeUnitCount, (Self.isUpper(byte) ? byte | 0x20 : byte) == doctype.utf8Start[matched] {
            if matched + 1 == doctype.utf8CodeUnitCount {
                state = .bogus(doctype: true)
            } else {
                state = .markupDeclaration(matched: matched + 1, comment: false)
            }
            return nil
        }
        state = .bogus(doctype: false)
        return .content
    }

    private mutating func startAttribute(_ attribute: Attribute) {
        markerMatched = 0
        state = .attributes(attribute)
    }

    private mutating func attribute(_ byte: UInt8, _ attribute: Attribute) -> HTMLHeadToken? {
        let isSpace = Self.isWhitespace(byte)
        switch attribute {
        case .beforeName, .afterName:
            if isSpace { return nil }
            if byte == UInt8(ascii: ">") { return endStartTag() }
            if byte == UInt8(ascii: "/") {
                state = .attributes(.beforeName)
            } else if byte == UInt8(ascii: "="), case .afterName = attribute {
                state = .attributes(.beforeValue)
            } else {
                markerMatched = 0
                matchMarker(byte)
                state = .attributes(.name)
            }
        case .name:
            if isSpace || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: ">") {
                if markerMatched == Self.marker.utf8CodeUnitCount { marked = true }
                if byte == UInt8(ascii: ">") { return endStartTag() }
                state = .attributes(byte == UInt8(ascii: "=") ? .beforeValue : isSpace ? .afterName : .beforeName)
            } else {
                matchMarker(byte)
            }
        case .beforeValue:
            if isSpace { return nil }
            if byte == UInt8(ascii: ">") { return endStartTag() }
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                state = .attributes(.quoted(byte))
            } else {
                state = .attributes(.unquoted)
            }
        case .quoted(let quote):
            if byte == quote { state = .attributes(.beforeName) }
        case .unquoted:
            if isSpace {
                state = .attributes(.beforeName)
            } else if byte == UInt8(ascii: ">") {
                return endStartTag()
            }
        }
        return nil
    }

    private mutating func matchMarker(_ byte: UInt8) {
        guard let matched = markerMatched else { return }
        let lower = Self.isUpper(byte) ? byte | 0x20 : byte
        let marker = Self.marker
        markerMatched = matched < marker.utf8CodeUnitCount && marker.utf8Start[matched] == lower ? matched + 1 : nil
    }

    private mutating func endStartTag() -> HTMLHeadToken {
        let tag = name.count > Self.maxName ? HTMLTagName.other : HTMLTagName(name)
        switch tag {
        case .script, .rawText:
            rawTextName = name
            state = .rawText(matched: 0)
        case .plaintext:
            state = .plaintext
        default:
            state = .data
        }
        return .startTag(tag, marked: marked, end: offset)
    }

    /// Looks for `</name` followed by white space, `/` or `>` (WHATWG HTML §13.2.5.12).
    private mutating func rawText(_ byte: UInt8, matched: Int) {
        let lower = Self.isUpper(byte) ? byte | 0x20 : byte
        let needed = 2 + rawTextName.count
        if matched == needed {
            if Self.isWhitespace(byte) || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ">") {
                state = byte == UInt8(ascii: ">") ? .data : .bogus(doctype: false)
                return
            }
        } else if matched == 0 ? byte == UInt8(ascii: "<")
                : matched == 1 ? byte == UInt8(ascii: "/")
                : rawTextName[matched - 2] == lower {
            state = .rawText(matched: matched + 1)
            return
        }
        state = .rawText(matched: byte == UInt8(ascii: "<") ? 1 : 0)
    }

    /// The UTF-8 byte order mark, EF BB BF.
    private static func byteOrderMarkByte(_ index: Int) -> UInt8 {
        index == 0 ? 0xEF : index == 1 ? 0xBB : 0xBF
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0C || byte == 0x0D
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || isUpper(byte)
    }

    private static func isUpper(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")
    }
}
