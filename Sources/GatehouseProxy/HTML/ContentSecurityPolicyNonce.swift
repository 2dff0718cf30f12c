import GatehouseAuth

/// Lets the injected scripts run under the app's `Content-Security-Policy` (SPEC "HTML
/// injection": a fresh nonce in the policy's `script-src` and on both tags).
///
/// Per policy of a header's policy list (CSP3 §2.2, comma-separated): the nonce joins
/// `script-src-elem` and `script-src` when present; a policy restricting scripts only
/// through `default-src` gets a `script-src` copied from it plus the nonce, so styles
/// and the rest stay as they were. A directive that allows inline scripts with
/// `'unsafe-inline'` (and no nonce, hash or `'strict-dynamic'`) is left alone, since a
/// nonce would switch `'unsafe-inline'` off for the page's own scripts (CSP3 §6.7.3.2).
/// Pure string work on the event loop.
enum ContentSecurityPolicyNonce {
    /// 128 random bits as unpadded base64url, a valid CSP `base64-value`.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for _ in 0..<2 {
            let word = generator.next() as UInt64
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return Base64URL.encode(bytes)
    }

    /// The header value with `'nonce-<nonce>'` added wherever scripts are restricted, or
    /// `nil` when no policy in it needed one.
    static func adding(_ nonce: String, to value: String) -> String? {
        var changed = false
        let policies = value.split(separator: ",", omittingEmptySubsequences: false).map { policy -> String in
            guard let rewritten = adding(nonce, toPolicy: policy) else { return String(policy) }
            changed = true
            return rewritten
        }
        return changed ? policies.joined(separator: ",") : nil
    }

    private static func adding(_ nonce: String, toPolicy policy: Substring) -> String? {
        var directives = policy.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        var seen = Set<String>()
        var scriptSrcElem: Int?
        var scriptSrc: Int?
        var defaultSrc: Int?
        for (i, directive) in directives.enumerated() {
            let name = directiveName(directive)
            // CSP3 §2.2.1: only a directive's first occurrence counts.
            guard !name.isEmpty, seen.insert(name).inserted else { continue }
            switch name {
            case "script-src-elem": scriptSrcElem = i
            case "script-src": scriptSrc = i
            case "default-src": defaultSrc = i
            default: break
            }
        }
        let source = " 'nonce-\(nonce)'"
        var changed = false
        for index in [scriptSrcElem, scriptSrc].compactMap({ $0 }) where needsNonce(directives[index]) {
            directives[index] = trimmingTrailingSpaces(directives[index]) + source
            changed = true
        }
        if scriptSrcElem == nil, scriptSrc == nil, let index = defaultSrc, needsNonce(directives[index]) {
            let values = sourceList(directives[index]).joined(separator: " ")
            directives.append(" script-src " + values + source)
            changed = true
        }
        return changed ? directives.joined(separator: ";") : nil
    }

    private static func directiveName(_ directive: String) -> String {
        directive.split(whereSeparator: isSpace).first.map { $0.lowercased() } ?? ""
    }

    private static func sourceList(_ directive: String) -> [Substring] {
        Array(directive.split(whereSeparator: isSpace).dropFirst())
    }

    /// Whether a script directive would block the injected inline script.
    private static func needsNonce(_ directive: String) -> Bool {
        let sources = sourceList(directive).map { $0.lowercased() }
        guard sources.contains("'unsafe-inline'") else { return true }
        return sources.contains { $0 == "'strict-dynamic'" || $0.hasPrefix("'nonce-") || $0.hasPrefix("'sha256-") || $0.hasPrefix("'sha384-") || $0.hasPrefix("'sha512-") }
    }

    private static func trimmingTrailingSpaces(_ s: String) -> String {
        var s = Substring(s)
        while let last = s.last, isSpace(last) { s = s.dropLast() }
        return String(s)
    }

    private static func isSpace(_ c: Character) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}"
    }
}
