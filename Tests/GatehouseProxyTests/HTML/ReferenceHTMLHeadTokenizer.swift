@testable import GatehouseProxy

/// The head tokenizer as it was before its tag names were packed into integers (a
/// `[UInt8]` name and a `String` switch per tag), kept verbatim as the reference the
/// packed one is compared with in `HTMLHeadTokenizerTests`.
struct ReferenceHTMLHeadTokenizer {
    /// Longest tag name worth remembering; longer ones are none of the names above.
    private static let maxName = 10
    private static let marker = Array("data-gatehouse".utf8)
    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

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
    private var name: [UInt8] = []
    /// The name of the raw-text element being skipped.
    private var rawTextName: [UInt8] = []
    /// The current attribute name matches `data-gatehouse` so far (`nil`: it does not).
    private var markerMatched: Int? = 0
    private var marked = false

    init() {
        name.reserveCapacity(Self.maxName)
    }

    /// The name switch as it was: a `String` per tag.
    private static func tagName(_ name: [UInt8]) -> HTMLTagName {
        switch String(decoding: name, as: UTF8.self) {
        case "html": return .html
        case "head": return .head
        case "body", "frameset": return .body
        case "script": return .script
        case "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript": return .rawText
        case "plaintext": return .plaintext
        default: return .other
        }
    }

    /// Consumes one byte; returns the token it completes, if any.
    mutating func consume(_ byte: UInt8) -> HTMLHeadToken? {
        let at = offset
        offset += 1
        if at < 3, byteOrderMarkLength == at, byte == Self.byteOrderMark[at] {
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
                name.removeAll(keepingCapacity: true)
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
        let doctype = Array("doctype".utf8)
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
        if matched < doctype.count, (Self.isUpper(byte) ? byte | 0x20 : byte) == doctype[matched] {
            if matched + 1 == doctype.count {
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
                if markerMatched == Self.marker.count { marked = true }
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
        markerMatched = matched < Self.marker.count && Self.marker[matched] == lower ? matched + 1 : nil
    }

    private mutating func endStartTag() -> HTMLHeadToken {
        let tag = name.count > Self.maxName ? HTMLTagName.other : Self.tagName(name)
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
