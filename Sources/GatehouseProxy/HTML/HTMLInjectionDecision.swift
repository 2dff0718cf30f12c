import GatehouseCore
import NIOHTTP1

/// Whether an app-upstream response is one the injector takes over, decided from its
/// head alone (SPEC "HTML injection": `200`, `text/html`, not a range, an encoding
/// Gatehouse decodes, not already injected). A pure function of the head: no body byte
/// is needed, so a response it passes is written exactly as it came.
///
/// **The mark.** A Gatehouse that injects adds `X-Gatehouse-Injected: 1` to the response;
/// a Gatehouse that receives a response carrying the field (any value) from its app
/// upstream leaves it alone. So in a chain (outer → inner → app) the innermost Gatehouse
/// injects — it is the one the page came through first — and every one in front of it
/// passes the page on byte for byte: no second snippet, no second nonce in the
/// `Content-Security-Policy`, `Content-Length` and `ETag` as the inner one sent them.
///
/// Why a response header, when the `data-gatehouse` attribute on the tags already marks
/// an injected document (and still does, for apps that carry the snippet themselves, or
/// an older Gatehouse behind a newer one):
/// - the attribute is only found by decoding and scanning the body, and only within the
///   injector's 64 KiB window: a page whose `<head>` ends just inside the window gets its
///   snippet at the window's edge, where the next Gatehouse's scan stops before it has read
///   `<script data-gatehouse` — and injects again. The head is seen whole, first.
/// - it is cheaper: the outer one no longer inflates, holds and re-scans up to 64 KiB of
///   every page (nor holds its head back) only to pass it on unchanged.
/// - a request header from the outer one ("leave it to me") would not do: the inner one
///   drops every client-sent `X-Gatehouse-*` (SPEC), and would need to trust its peer.
///   The response comes from the app upstream, which Gatehouse already trusts with the
///   page itself.
///
/// An app upstream can send the field to keep its pages uninjected, as it can with the
/// attribute; that is no hole: injection only helps the page sign in, the `/_api` gate
/// does not depend on it. The field is passed on to the client (a third Gatehouse in a
/// row sees it too); it is only added by a Gatehouse that injected, never because a body
/// marker was found.
enum HTMLInjectionDecision: Equatable {
    /// Injectable: the body is in this coding (`nil`: identity).
    case rewrite(HTTPContentCoding?)
    /// Passes unchanged.
    case pass(PassReason)

    enum PassReason: Equatable {
        /// `1xx` (`103 Early Hints`): not the response that counts.
        case interim
        /// Not `200` (`206`, `304`, errors…).
        case notOK
        case notHTML
        /// Carries `Content-Range`.
        case range
        /// A `Content-Encoding` other than `gzip`/`deflate`/`identity`, or several.
        case undecodableCoding
        /// Carries ``HTMLInjectionDecision/markerField``: a Gatehouse behind this one
        /// injected already.
        case alreadyInjected
    }

    /// The response field a Gatehouse that injected adds.
    static let markerField = "X-Gatehouse-Injected"

    init(_ head: HTTPResponseHead) {
        self.init(head, fields: HTMLResponseFields(head.headers))
    }

    /// From fields already scanned (the rewriter reads the body's length from them too).
    init(_ head: HTTPResponseHead, fields: HTMLResponseFields) {
        if head.status.code < 200 {
            self = .pass(.interim)
        } else if head.status != .ok {
            self = .pass(.notOK)
        } else if fields.marked {
            self = .pass(.alreadyInjected)
        } else if !Self.isHTML(fields.contentType) {
            self = .pass(.notHTML)
        } else if fields.range {
            self = .pass(.range)
        } else if fields.codingCount <= 1, case .some(let coding) = HTTPContentCoding.parse(fields.coding.map(String.init)) {
            self = .rewrite(coding)
        } else {
            self = .pass(.undecodableCoding)
        }
    }

    /// Whether the media type before any parameter is `text/html`, case-insensitively,
    /// spaces and tabs around it ignored. Over the value's bytes: every app response
    /// passes here, and the same through `Substring` and generic views was ~1,100
    /// instructions a page.
    static func isHTML(_ contentType: String?) -> Bool {
        guard let value = contentType else { return false }
        return value.withUTF8Bytes { bytes in
            var end = 0
            while end < bytes.count, bytes[end] != UInt8(ascii: ";") { end += 1 }
            return bytes.equalsIgnoringASCIICase(bytes.trimmingOWS(0..<end), "text/html")
        }
    }
}

/// What the injector reads from an app response's head, found in one pass over its
/// fields: it was five lookups, each a walk over every field, and two arrays built for
/// comma-split lists (8,600 instructions per page).
struct HTMLResponseFields {
    /// Carries ``HTMLInjectionDecision/markerField`` (any value).
    var marked = false
    /// The first `Content-Type`.
    var contentType: String?
    /// Carries `Content-Range`.
    var range = false
    /// How many content codings the `Content-Encoding` fields list (RFC 9110 §5.6.1:
    /// empty list elements do not count), and the first of them.
    var codingCount = 0
    var coding: Substring?
    /// The body's length: one `Content-Length` field of digits only, else `nil` (an
    /// injected body then goes chunked, which is always right).
    var contentLength: Int?

    init(_ headers: HTTPHeaders) {
        var lengthFields = 0
        var length: Int?
        for (name, value) in headers {
            switch name.utf8.count {
            case 12 where name.caseInsensitiveEquals("content-type"):
                if contentType == nil { contentType = value }
            case 13 where name.caseInsensitiveEquals("content-range"):
                range = true
            case 14 where name.caseInsensitiveEquals("content-length"):
                lengthFields += 1
                length = Self.contentLength(value)
            case 16 where name.caseInsensitiveEquals("content-encoding"):
                countCodings(value)
            case HTMLResponseFields.markerLength where name.caseInsensitiveEquals(HTMLResponseFields.markerLowercased):
                marked = true
            default:
                continue
            }
        }
        contentLength = lengthFields == 1 ? length : nil
    }

    private static let markerLowercased = HTMLInjectionDecision.markerField.lowercased()
    private static let markerLength = HTMLInjectionDecision.markerField.utf8.count

    private mutating func countCodings(_ value: String) {
        guard value.utf8.contains(UInt8(ascii: ",")) else {
            let coding = value.trimmingASCIISpaces()
            if !coding.isEmpty { note(coding) }
            return
        }
        for element in value.split(separator: ",") {
            let coding = element.trimmingASCIISpaces()
            if !coding.isEmpty { note(coding) }
        }
    }

    private mutating func note(_ coding: Substring) {
        if codingCount == 0 { self.coding = coding }
        codingCount += 1
    }

    /// A `Content-Length` value: digits only (spaces and tabs around them ignored) that
    /// fit an `Int`, else `nil`. Over the value's bytes (through `Substring` and `Int(_:)`
    /// it was ~400 instructions a page).
    static func contentLength(_ value: String) -> Int? {
        value.withUTF8Bytes(parseLength)
    }

    private static func parseLength(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let digits = bytes.trimmingOWS(0..<bytes.count)
        guard !digits.isEmpty else { return nil }
        var length = 0
        for i in digits {
            let digit = bytes[i] &- UInt8(ascii: "0")
            guard digit <= 9 else { return nil }
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(digit))
            guard !overflow1, !overflow2 else { return nil }
            length = sum
        }
        return length
    }
}
