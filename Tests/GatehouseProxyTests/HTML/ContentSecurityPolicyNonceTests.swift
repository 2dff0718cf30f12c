@testable import GatehouseProxy
import Testing

/// The nonce added over bytes (``ContentSecurityPolicyNonce/adding(_:to:)``) against the
/// `String` version it replaced, kept here as the model.
@Suite struct ContentSecurityPolicyNonceTests {
    /// Every header value of one or two policies, each of up to three directives drawn from
    /// directives that probe each rule (the three script directives in any case, repeated,
    /// `'unsafe-inline'` with and without a nonce, hash or `'strict-dynamic'`, empty and
    /// white-space-only directives, tabs and form feeds, trailing spaces, a bare name).
    @Test func nonceInsertionMatchesTheTextModel() {
        let directives = [
            "", " ", "script-src 'self'", " SCRIPT-SRC\t'self' https://cdn.example  ", "script-src", "script-src-elem 'none'",
            "default-src 'self' https:", "Default-Src\u{0C}'self'", "default-src", "script-src 'unsafe-inline'",
            "script-src 'UNSAFE-INLINE' 'nonce-old'", "script-src 'unsafe-inline' 'sha256-abc'", "default-src 'unsafe-inline' 'Strict-Dynamic'",
            "script-src 'unsafe-inline' 'sha512-x' ", "img-src *", "style-src 'self' 'unsafe-inline'", "script-src-elemx 'self'",
        ]
        var checked = 0
        for a in directives {
            for b in directives {
                for c in ["", "frame-ancestors 'none'", "script-src 'self'"] {
                    for value in ["\(a);\(b)", "\(a); \(b); \(c)", "\(c);\(a), \(b)", "\(a),\(b);\(c),"] {
                        #expect(ContentSecurityPolicyNonce.adding("N0", to: value) == Self.reference("N0", to: value), "\(value)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == directives.count * directives.count * 3 * 4)
        #expect(ContentSecurityPolicyNonce.adding("N", to: "") == nil)
        #expect(ContentSecurityPolicyNonce.adding("N", to: "default-src") == "default-src; script-src  'nonce-N'")
    }

    // The version over `Substring`s and `String`s, as it was.

    private static func reference(_ nonce: String, to value: String) -> String? {
        var changed = false
        let policies = value.split(separator: ",", omittingEmptySubsequences: false).map { policy -> String in
            guard let rewritten = reference(nonce, toPolicy: policy) else { return String(policy) }
            changed = true
            return rewritten
        }
        return changed ? policies.joined(separator: ",") : nil
    }

    private static func reference(_ nonce: String, toPolicy policy: Substring) -> String? {
        var directives = policy.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        var seen = Set<String>()
        var scriptSrcElem: Int?
        var scriptSrc: Int?
        var defaultSrc: Int?
        for (i, directive) in directives.enumerated() {
            let name = directive.split(whereSeparator: isSpace).first.map { $0.lowercased() } ?? ""
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
            var trimmed = Substring(directives[index])
            while let last = trimmed.last, isSpace(last) { trimmed = trimmed.dropLast() }
            directives[index] = String(trimmed) + source
            changed = true
        }
        if scriptSrcElem == nil, scriptSrc == nil, let index = defaultSrc, needsNonce(directives[index]) {
            let values = sourceList(directives[index]).joined(separator: " ")
            directives.append(" script-src " + values + source)
            changed = true
        }
        return changed ? directives.joined(separator: ";") : nil
    }

    private static func sourceList(_ directive: String) -> [Substring] {
        Array(directive.split(whereSeparator: isSpace).dropFirst())
    }

    private static func needsNonce(_ directive: String) -> Bool {
        let sources = sourceList(directive).map { $0.lowercased() }
        guard sources.contains("'unsafe-inline'") else { return true }
        return sources.contains { $0 == "'strict-dynamic'" || $0.hasPrefix("'nonce-") || $0.hasPrefix("'sha256-") || $0.hasPrefix("'sha384-") || $0.hasPrefix("'sha512-") }
    }

    private static func isSpace(_ c: Character) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}"
    }
}
