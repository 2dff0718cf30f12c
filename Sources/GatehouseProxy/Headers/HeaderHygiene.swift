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
        if headers.contains(name: "connection") {
            var named: [String] = []
            for value in headers[canonicalForm: "connection"] {
                let trimmed = value.trimmingASCIISpaces()
                // The usual tokens name no other field (`keep-alive` goes with the
                // hop-by-hop pass below): nothing to lower-case or look for.
                if trimmed.isEmpty || trimmed.caseInsensitiveEquals("keep-alive") || trimmed.caseInsensitiveEquals("close") { continue }
                named.append(trimmed.lowercased())
            }
            for name in named where name != "content-length" && name != "transfer-encoding" && name != "host" {
                headers.remove(name: name)
            }
        }
        // One pass to see whether any hop-by-hop field is there at all (usually none is).
        var present = false
        for (name, _) in headers where isHopByHop(name) {
            present = true
            break
        }
        if present {
            for name in hopByHop { headers.remove(name: name) }
        }
    }

    static func isHopByHop(_ name: String) -> Bool {
        switch name.utf8.count {
        case 2: return name.caseInsensitiveEquals("te")
        case 7: return name.caseInsensitiveEquals("trailer") || name.caseInsensitiveEquals("upgrade")
        case 10: return name.caseInsensitiveEquals("connection") || name.caseInsensitiveEquals("keep-alive")
        case 16: return name.caseInsensitiveEquals("proxy-connection")
        case 18: return name.caseInsensitiveEquals("proxy-authenticate")
        case 19: return name.caseInsensitiveEquals("proxy-authorization")
        default: return false
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
        guard headers.contains(name: "cookie") else { return }
        // Not `canonicalForm`: cookies are separated by ";", and a "," inside one is data.
        let values = headers["cookie"]
        // Every credential cookie name starts with "__": without one, nothing to rewrite
        // (the usual API call), so no splitting, joining or header edits.
        guard values.contains(where: hasDoubleUnderscore) else { return }
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
    func trimmingASCIISpaces() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
