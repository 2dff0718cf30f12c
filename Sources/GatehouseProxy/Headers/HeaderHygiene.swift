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
    public static func removeHopByHop(_ headers: inout HTTPHeaders) {
        // One pass notes which hop-by-hop fields are there (on a response usually just
        // `Connection: keep-alive`) and what `Connection` names beyond keep-alive/close;
        // only those are then removed, each `remove` being a scan of its own.
        var present: UInt16 = 0
        var named: [Substring] = []
        for (name, value) in headers {
            guard let index = hopByHopIndex(name) else { continue }
            present |= 1 << index
            if index == 0 { collectNamedFields(value, into: &named) }
        }
        guard present != 0 else { return }
        for name in named {
            let lowered = name.lowercased()
            if lowered != "content-length" && lowered != "transfer-encoding" && lowered != "host" {
                headers.remove(name: lowered)
            }
        }
        for (index, name) in hopByHop.enumerated() where present & (1 << index) != 0 {
            headers.remove(name: name)
        }
    }

    /// The field names one `Connection` value lists, other than `keep-alive` and `close`
    /// (which name no field).
    private static func collectNamedFields(_ value: String, into named: inout [Substring]) {
        // Walked in place: `split` would build an array for every `Connection: keep-alive`.
        var rest = Substring(value)
        while !rest.isEmpty {
            let token: Substring
            if let comma = rest.utf8.firstIndex(of: UInt8(ascii: ",")) {
                token = rest[..<comma]
                rest = rest[rest.utf8.index(after: comma)...]
            } else {
                token = rest
                rest = rest[rest.endIndex...]
            }
            let trimmed = token.trimmingASCIISpaces()
            if trimmed.isEmpty || trimmed.caseInsensitiveEquals("keep-alive") || trimmed.caseInsensitiveEquals("close") { continue }
            named.append(trimmed)
        }
    }

    /// The field's index in ``hopByHop``, or `nil`.
    static func hopByHopIndex(_ name: String) -> Int? {
        switch name.utf8.count {
        case 2: return name.caseInsensitiveEquals("te") ? 3 : nil
        case 7: return name.caseInsensitiveEquals("trailer") ? 4 : name.caseInsensitiveEquals("upgrade") ? 5 : nil
        case 10: return name.caseInsensitiveEquals("connection") ? 0 : name.caseInsensitiveEquals("keep-alive") ? 1 : nil
        case 16: return name.caseInsensitiveEquals("proxy-connection") ? 2 : nil
        case 18: return name.caseInsensitiveEquals("proxy-authenticate") ? 6 : nil
        case 19: return name.caseInsensitiveEquals("proxy-authorization") ? 7 : nil
        default: return nil
        }
    }

    /// Whether a header name would reach a server as `X-Gatehouse-*` under any folding a
    /// server might apply (case, `_` and `.` read as `-`): e.g. `x_gatehouse_user`.
    public static func isGatehouseReserved(_ name: String) -> Bool {
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

    /// Drops every client-sent `X-Gatehouse-*` spelling.
    public static func removeGatehouseHeaders(_ headers: inout HTTPHeaders) {
        var doomed: [String] = []
        for (name, _) in headers where name.utf8.count >= 12 && isGatehouseReserved(name) { doomed.append(name) }
        for name in doomed { headers.remove(name: name) }
    }

    /// Sets `X-Forwarded-For`/`-Proto`/`-Host` (SPEC "The /_api gate"): from a trusted
    /// peer the incoming chain is kept and the peer appended, and incoming `-Proto`/`-Host`
    /// kept; from anyone else all three are replaced.
    public static func setForwarded(_ headers: inout HTTPHeaders, peer: String?, peerTrusted: Bool, originalHost: String?) {
        let peerText = peer ?? "unknown"
        if peerTrusted {
            let existing = headers[canonicalForm: "x-forwarded-for"].joined(separator: ", ")
            headers.replaceOrAdd(name: "X-Forwarded-For", value: existing.isEmpty ? peerText : existing + ", " + peerText)
            if !headers.contains(name: "x-forwarded-proto") { headers.add(name: "X-Forwarded-Proto", value: "http") }
            if !headers.contains(name: "x-forwarded-host"), let originalHost {
                headers.add(name: "X-Forwarded-Host", value: originalHost)
            }
        } else {
            headers.replaceOrAdd(name: "X-Forwarded-For", value: peerText)
            headers.replaceOrAdd(name: "X-Forwarded-Proto", value: "http")
            headers.remove(name: "x-forwarded-host")
            if let originalHost { headers.add(name: "X-Forwarded-Host", value: originalHost) }
        }
    }

    /// Removes Clerk's credential cookies (`__session`, `__session_*`, `__client_uat`,
    /// `__client_uat_*`) from every `Cookie` header, keeping the others in order.
    public static func removeCredentialCookies(_ headers: inout HTTPHeaders) {
        // Every credential cookie name starts with "__": without one, nothing to rewrite
        // (the usual API call), so no arrays, splitting, joining or header edits.
        guard headers.contains(where: { $0.name.caseInsensitiveEquals("cookie") && hasDoubleUnderscore($0.value) }) else { return }
        // Not `canonicalForm`: cookies are separated by ";", and a "," inside one is data.
        let values = headers["cookie"]
        var kept: [Substring] = []
        for value in values {
            for pair in value.split(separator: ";") {
                let trimmed = pair.drop(while: { $0 == " " })
                let name = trimmed.prefix(while: { $0 != "=" })
                if isCredentialCookie(name) { continue }
                if !trimmed.isEmpty { kept.append(trimmed) }
            }
        }
        headers.remove(name: "cookie")
        if !kept.isEmpty { headers.add(name: "Cookie", value: kept.joined(separator: "; ")) }
    }

    private static func hasDoubleUnderscore(_ value: String) -> Bool {
        var previous: UInt8 = 0
        for byte in value.utf8 {
            if byte == UInt8(ascii: "_") && previous == UInt8(ascii: "_") { return true }
            previous = byte
        }
        return false
    }

    static func isCredentialCookie(_ name: Substring) -> Bool {
        name == "__session" || name.hasPrefix("__session_") || name == "__client_uat" || name.hasPrefix("__client_uat_")
    }

    /// Response headers from an upstream: hop-by-hop removed.
    public static func cleanResponse(_ headers: inout HTTPHeaders) {
        removeHopByHop(&headers)
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
