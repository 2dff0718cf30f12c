import GatehouseCore
import NIOHTTP1

/// Header rewriting shared by both routes: what a hop must not pass on, and what only
/// Gatehouse may say. Pure functions over `HTTPHeaders`, run on the event loop.
public enum HeaderHygiene {
    /// RFC 9110 §7.6.1 hop-by-hop fields, plus the de-facto ones proxies strip.
    /// `Transfer-Encoding` and `Content-Length` are framing: kept so the encoder
    /// re-frames the streamed body the same way.
    static let hopByHop: [String] = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
        "proxy-authenticate", "proxy-authorization",
    ]

    /// Removes hop-by-hop fields and every field named in `Connection`.
    ///
    /// - Parameter keepingKeepAlive: a lone `Connection: keep-alive` (nothing else
    ///   hop-by-hop) stays, as the sender's own control option (RFC 9110 §7.6.1: removed "or
    ///   replaced with the intermediary's own"): for a response on a client connection that
    ///   stays open it says just what Gatehouse would say. Every HTTP/1.1 nginx response
    ///   carries it, and removing it rebuilt the field list (an allocation and a copy of
    ///   every field) on each proxied request.
    /// - Returns: whether the message's transfer coding is none or a lone `chunked` (in
    ///   any case), found in the same walk (see ``cleanResponse(_:clientKeepsAlive:)``).
    @discardableResult
    public static func removeHopByHop(_ headers: inout HTTPHeaders, keepingKeepAlive: Bool = false) -> Bool {
        // One pass notes where the hop-by-hop fields are (on a response usually just
        // `Connection: keep-alive`) and what `Connection` names beyond keep-alive/close; a
        // second copies the rest, once. (`HTTPHeaders.remove` per name was a scan each,
        // ~2,300 instructions for one `Connection` field in an 8-field response.)
        var dropped: UInt64 = 0
        var scan = HopByHopScan()
        var named: [String] = []
        for (position, (name, value)) in headers.enumerated() {
            guard let index = scan.note(name, value) else { continue }
            if position < 64 { dropped |= 1 << position }
            if index == 0, !value.caseInsensitiveEquals("keep-alive"), !value.caseInsensitiveEquals("close") {
                // Rare: a `Connection` naming fields. Lowercased for `caseInsensitiveEquals`.
                forEachConnectionToken(value) { if !isProtectedFromConnection($0) { named.append($0.lowercased()) } }
            }
        }
        let codingPasses = scan.codingPasses
        if scan.keepsFields(keepingKeepAlive: keepingKeepAlive) { return codingPasses }
        var kept: [(String, String)] = []
        kept.reserveCapacity(headers.count)
        for (position, (name, value)) in headers.enumerated() {
            if position < 64 ? dropped & (1 << position) != 0 : hopByHopIndex(name) != nil { continue }
            if !named.isEmpty, named.contains(where: { name.caseInsensitiveEquals($0) }) { continue }
            kept.append((name, value))
        }
        headers = HTTPHeaders(kept)
        return codingPasses
    }

    /// What ``removeHopByHop(_:keepingKeepAlive:)`` acts on in a set of fields, noted one
    /// field at a time: by its walk, and by the response decoder as each field arrives
    /// (``DecodedFields``), so that a response whose fields it would leave as they are —
    /// most: nginx's carry just `Connection: keep-alive` — skips the walk
    /// (``ProxyHandler``'s `upstreamRead`).
    struct HopByHopScan: Equatable {
        /// Hop-by-hop fields seen.
        private(set) var found = 0
        /// The first hop-by-hop field seen was `Connection: keep-alive`.
        private(set) var loneKeepAlive = false
        private var transferCodings = 0
        private var chunkedOnly = true

        /// What a field's name makes of it for the scan.
        enum FieldKind: Equatable {
            /// Its index in ``HeaderHygiene/hopByHop``.
            case hopByHop(Int)
            case transferEncoding
            case other

            init(name: UnsafeBufferPointer<UInt8>) {
                if let index = hopByHopIndex(bytes: name) {
                    self = .hopByHop(index)
                } else if name.count == 17, name.equalsIgnoringASCIICase(0..<17, "transfer-encoding") {
                    self = .transferEncoding
                } else {
                    self = .other
                }
            }
        }

        /// Notes a field: its index in ``hopByHop`` when it is hop-by-hop.
        @inline(__always)
        mutating func note(_ name: String, _ value: String) -> Int? {
            name.withUTF8Bytes { name in value.withUTF8Bytes { value in note(FieldKind(name: name), value: value) } }
        }

        /// Notes a field from its name's kind and its value's bytes. The response decoder
        /// tells the kind from the name's bytes as they arrive, before the value: noting the
        /// field from its two strings afterwards retained and released both (their storage
        /// read across calls), four atomic reference counts per response field.
        mutating func note(_ kind: FieldKind, value: UnsafeBufferPointer<UInt8>) -> Int? {
            switch kind {
            case .other:
                return nil
            case .transferEncoding:
                transferCodings += 1
                chunkedOnly = chunkedOnly && HTTPBodyFraming.isChunkedAlone(bytes: value)
                return nil
            case .hopByHop(let index):
                found += 1
                if index == 0, value.equalsIgnoringASCIICase(0..<value.count, "keep-alive") { loneKeepAlive = found == 1 }
                return index
            }
        }

        /// The message's transfer coding is none or a lone `chunked` (in any case).
        var codingPasses: Bool { transferCodings == 0 || (transferCodings == 1 && chunkedOnly) }

        /// The fields stay as they are: nothing hop-by-hop, or (`keepingKeepAlive`) a lone
        /// `Connection: keep-alive`.
        func keepsFields(keepingKeepAlive: Bool) -> Bool {
            found == 0 || (keepingKeepAlive && found == 1 && loneKeepAlive)
        }
    }

    /// The field's index in ``hopByHop``, or `nil`.
    static func hopByHopIndex(_ name: String) -> Int? {
        name.withUTF8Bytes { hopByHopIndex(bytes: $0) }
    }

    /// As ``hopByHopIndex(_:)``, from the name's bytes.
    static func hopByHopIndex(bytes name: UnsafeBufferPointer<UInt8>) -> Int? {
        let all = 0..<name.count
        switch name.count {
        case 2: return name.equalsIgnoringASCIICase(all, "te") ? 3 : nil
        case 7: return name.equalsIgnoringASCIICase(all, "trailer") ? 4 : name.equalsIgnoringASCIICase(all, "upgrade") ? 5 : nil
        case 10: return name.equalsIgnoringASCIICase(all, "connection") ? 0 : name.equalsIgnoringASCIICase(all, "keep-alive") ? 1 : nil
        case 16: return name.equalsIgnoringASCIICase(all, "proxy-connection") ? 2 : nil
        case 18: return name.equalsIgnoringASCIICase(all, "proxy-authenticate") ? 6 : nil
        case 19: return name.equalsIgnoringASCIICase(all, "proxy-authorization") ? 7 : nil
        default: return nil
        }
    }

    /// Whether a header name would reach a server as `X-Gatehouse-*` under any folding a
    /// server might apply (case, `_` and `.` read as `-`): e.g. `x_gatehouse_user`.
    public static func isGatehouseReserved(_ name: String) -> Bool {
        // Asked of most fields of every request: the first byte settles nearly all of them.
        guard let first = name.utf8.first, first | 0x20 == UInt8(ascii: "x") else { return false }
        let prefix = "x-gatehouse-"
        var utf8 = name.utf8.makeIterator()
        for expected in prefix.utf8 {
            guard var c = utf8.next() else { return false }
            if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { c += 32 }
            if c == UInt8(ascii: "_") || c == UInt8(ascii: ".") { c = UInt8(ascii: "-") }
            if c != expected { return false }
        }
        return true
    }

    /// Request fields the upstream rewrite treats specially, told apart by length and then
    /// bytes: one classification per inbound field (``UpstreamRequestBuilder``'s single pass).
    enum RequestField: Equatable {
        case host, cookie, expect, authorization, requestID
        case forwardedFor, forwardedProto, forwardedHost
        case contentLength, transferEncoding, acceptEncoding
        /// Index in ``HeaderHygiene/hopByHop``; 0 is `Connection`.
        case hopByHop(Int)
        case gatehouseReserved
        case other

        static func classify(_ name: String) -> RequestField {
            let count = name.utf8.count
            if count >= 12, isGatehouseReserved(name) { return .gatehouseReserved }
            if let index = hopByHopIndex(name) { return .hopByHop(index) }
            switch count {
            case 4: return name.caseInsensitiveEquals("host") ? .host : .other
            case 6: return name.caseInsensitiveEquals("cookie") ? .cookie : name.caseInsensitiveEquals("expect") ? .expect : .other
            case 12: return name.caseInsensitiveEquals("x-request-id") ? .requestID : .other
            case 13: return name.caseInsensitiveEquals("authorization") ? .authorization : .other
            case 14: return name.caseInsensitiveEquals("content-length") ? .contentLength : .other
            case 15:
                return name.caseInsensitiveEquals("x-forwarded-for") ? .forwardedFor
                    : name.caseInsensitiveEquals("accept-encoding") ? .acceptEncoding : .other
            case 16: return name.caseInsensitiveEquals("x-forwarded-host") ? .forwardedHost : .other
            case 17:
                return name.caseInsensitiveEquals("x-forwarded-proto") ? .forwardedProto
                    : name.caseInsensitiveEquals("transfer-encoding") ? .transferEncoding : .other
            default: return .other
            }
        }
    }

    /// Whether a `Connection` value names a field to remove (anything besides
    /// `keep-alive` and `close`, and never the framing fields or `Host`).
    static func connectionNamesFields(_ value: String) -> Bool {
        // What browsers and keep-alive clients send, without walking tokens.
        if value.caseInsensitiveEquals("keep-alive") || value.caseInsensitiveEquals("close") { return false }
        var names = false
        forEachConnectionToken(value) { token in
            if !isProtectedFromConnection(token) { names = true }
        }
        return names
    }

    /// Calls `body` with each field name a `Connection` value lists, other than
    /// `keep-alive` and `close` (which name no field).
    static func forEachConnectionToken(_ value: String, _ body: (Substring) -> Void) {
        forEachPiece(of: value, separatedBy: UInt8(ascii: ",")) { token in
            let trimmed = token.trimmingASCIISpaces()
            if trimmed.isEmpty || trimmed.caseInsensitiveEquals("keep-alive") || trimmed.caseInsensitiveEquals("close") { return }
            body(trimmed)
        }
    }

    /// Calls `body` with each piece of `value` between `separator` bytes. Walked in place:
    /// `split` would build an array for every `Connection: keep-alive` or `Cookie`.
    static func forEachPiece(of value: String, separatedBy separator: UInt8, _ body: (Substring) -> Void) {
        var rest = Substring(value)
        while !rest.isEmpty {
            if let end = rest.utf8.firstIndex(of: separator) {
                body(rest[..<end])
                rest = rest[rest.utf8.index(after: end)...]
            } else {
                body(rest)
                return
            }
        }
    }

    /// Fields `Connection` may not remove: the framing the encoder re-frames by, and `Host`.
    static func isProtectedFromConnection(_ token: Substring) -> Bool {
        token.caseInsensitiveEquals("content-length") || token.caseInsensitiveEquals("transfer-encoding") || token.caseInsensitiveEquals("host")
    }

    /// A `Cookie` value without Clerk's credential cookies (`__session`, `__session_*`,
    /// `__client_uat`, `__client_uat_*`), the others kept in order and joined by `"; "`;
    /// appended to `kept`. The value itself when it cannot hold one (no `__`): the usual
    /// API call rewrites nothing.
    ///
    /// Over the value's bytes, twice (count, then copy into the one string built): every
    /// browser call of a Clerk app carries `__session` and `__client_uat`, and splitting
    /// the value into `Substring`s compared as Unicode text was ~12,000 instructions for a
    /// three-cookie value, a tenth of such a request's. Names are compared as bytes, as the
    /// upstream reads them: a name beginning with the bytes of `__session_` is a
    /// credential cookie even when a combining mark follows the underscore.
    static func appendNonCredentialCookies(of value: String, to kept: inout String) {
        let filtered: String? = value.withUTF8Bytes { bytes in
            guard hasDoubleUnderscore(bytes) else { return nil }
            return bytes.joined(separator: UInt8(ascii: ";")) { forEachNonCredentialCookie(in: bytes, $0) }
        }
        guard let filtered else {
            if kept.isEmpty { kept = value } else if !value.isEmpty { kept += "; " + value }
            return
        }
        if filtered.isEmpty { return }
        if kept.isEmpty { kept = filtered } else { kept += "; " + filtered }
    }

    /// The byte range of each cookie in a `Cookie` value that is not a credential: the
    /// pieces between `;` (not `,`: a comma inside a cookie is data), leading spaces
    /// dropped, empty pieces skipped.
    @inline(__always)
    private static func forEachNonCredentialCookie(in bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        bytes.forEachPiece(separatedBy: UInt8(ascii: ";")) { piece in
            var first = piece.lowerBound
            while first < piece.upperBound, bytes[first] == UInt8(ascii: " ") { first += 1 }
            guard first < piece.upperBound else { return }
            var nameEnd = first
            while nameEnd < piece.upperBound, bytes[nameEnd] != UInt8(ascii: "=") { nameEnd += 1 }
            if !isCredentialCookie(bytes, first..<nameEnd) { body(first..<piece.upperBound) }
        }
    }

    private static func hasDoubleUnderscore(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var previous: UInt8 = 0
        for byte in bytes {
            if byte == UInt8(ascii: "_") && previous == UInt8(ascii: "_") { return true }
            previous = byte
        }
        return false
    }

    /// `__session`, `__session_*`, `__client_uat`, `__client_uat_*`, by bytes.
    static func isCredentialCookie(_ bytes: UnsafeBufferPointer<UInt8>, _ name: Range<Int>) -> Bool {
        bytes.equals(name, "__session") || bytes.hasPrefix(name, "__session_")
            || bytes.equals(name, "__client_uat") || bytes.hasPrefix(name, "__client_uat_")
    }

    /// Response headers from an upstream: hop-by-hop removed; with `clientKeepsAlive`
    /// (the client connection stays open after this response) a lone
    /// `Connection: keep-alive` stays (see ``removeHopByHop(_:keepingKeepAlive:)``).
    ///
    /// - Returns: `false` for a transfer coding other than a lone `chunked` (`gzip, chunked`,
    ///   `gzip`, two fields): the decoder takes only the chunking off, and what it passes
    ///   on would reach the client re-chunked as if it were the content, still coded. Such
    ///   a response is a 502, as nginx answers "upstream sent unknown Transfer-Encoding".
    public static func cleanResponse(_ headers: inout HTTPHeaders, clientKeepsAlive: Bool = false) -> Bool {
        removeHopByHop(&headers, keepingKeepAlive: clientKeepsAlive)
    }

    /// The same, given the fields' scan made while they were decoded (`nil`: not made):
    /// fields it says stay as they are are not walked again (the walk was ~1,300
    /// instructions of nginx's five-field response; noting the fields as they are decoded,
    /// ~250).
    static func cleanResponse(_ headers: inout HTTPHeaders, clientKeepsAlive: Bool, scanned: HopByHopScan?) -> Bool {
        if let scanned, scanned.keepsFields(keepingKeepAlive: clientKeepsAlive) { return scanned.codingPasses }
        return removeHopByHop(&headers, keepingKeepAlive: clientKeepsAlive)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (RFC 9110 OWS), by UTF-8 byte.
    func trimmingASCIISpaces() -> Substring {
        var s = Substring(self)
        while let f = s.utf8.first, f == 0x20 || f == 0x09 { s = s[s.utf8.index(after: s.startIndex)...] }
        while let l = s.utf8.last, l == 0x20 || l == 0x09 { s = s[..<s.utf8.index(before: s.endIndex)] }
        return s
    }
}
