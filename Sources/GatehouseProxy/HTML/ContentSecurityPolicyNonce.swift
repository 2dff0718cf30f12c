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
    /// 128 random bits as unpadded base64url, a valid CSP `base64-value`, from the loop's
    /// pool (one system call per sixteen nonces, ``RandomBytePool``).
    static func make(from pool: RandomBytePool) -> String {
        pool.withFreshBytes(16) { Base64URL.encode($0) }
    }

    /// The header value with `'nonce-<nonce>'` added wherever scripts are restricted, or
    /// `nil` when no policy in it needed one.
    ///
    /// Over the value's bytes, building one byte array: splitting the value into
    /// `Substring`s and `String`s by `Character`, a `Set` of directive names and lowercased
    /// copies of every source was ~590,000 instructions for a 430-byte policy, eight times
    /// the rest of an injected page. Names and keywords are compared up to ASCII case (no
    /// other character lowercases to their letters).
    static func adding(_ nonce: String, to value: String) -> String? {
        value.withUTF8Bytes { bytes -> String? in
            var out: [UInt8] = []
            var changed = false
            forEachElement(of: bytes, in: 0..<bytes.count, separatedBy: UInt8(ascii: ",")) { policy in
                if policy.lowerBound > 0 { out.append(UInt8(ascii: ",")) }
                if Policy(bytes, policy).append(nonce, into: &out) {
                    changed = true
                } else {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[policy]))
                }
            }
            return changed ? String(decoding: out, as: UTF8.self) : nil
        }
    }

    /// Each element of `range` between `separator` bytes, empty ones and a last one after a
    /// trailing separator included: a policy is written back as it was but where it changes.
    private static func forEachElement(
        of bytes: UnsafeBufferPointer<UInt8>, in range: Range<Int>, separatedBy separator: UInt8, _ body: (Range<Int>) -> Void
    ) {
        var start = range.lowerBound
        while true {
            var end = start
            while end < range.upperBound, bytes[end] != separator { end += 1 }
            body(start..<end)
            guard end < range.upperBound else { return }
            start = end + 1
        }
    }

    /// One policy of a header's list: its directives between `;` (empty ones kept, as
    /// they were written).
    private struct Policy {
        let bytes: UnsafeBufferPointer<UInt8>
        let range: Range<Int>

        init(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
            self.bytes = bytes
            self.range = range
        }

        /// Writes the policy with the nonce where it needs one; `false`, with nothing
        /// written, when it needs none.
        func append(_ nonce: String, into out: inout [UInt8]) -> Bool {
            // CSP3 §2.2.1: only a directive's first occurrence counts.
            var scriptSrcElem: Range<Int>?
            var scriptSrc: Range<Int>?
            var defaultSrc: Range<Int>?
            forEachDirective { directive in
                guard let name = firstToken(directive) else { return }
                if scriptSrcElem == nil, bytes.equalsIgnoringASCIICase(name, "script-src-elem") {
                    scriptSrcElem = directive
                } else if scriptSrc == nil, bytes.equalsIgnoringASCIICase(name, "script-src") {
                    scriptSrc = directive
                } else if defaultSrc == nil, bytes.equalsIgnoringASCIICase(name, "default-src") {
                    defaultSrc = directive
                }
            }
            let elemNeeds = scriptSrcElem.map(needsNonce) ?? false
            let srcNeeds = scriptSrc.map(needsNonce) ?? false
            let copiedDefault = scriptSrcElem == nil && scriptSrc == nil ? defaultSrc.flatMap { needsNonce($0) ? $0 : nil } : nil
            guard elemNeeds || srcNeeds || copiedDefault != nil else { return false }
            var first = true
            forEachDirective { directive in
                if !first { out.append(UInt8(ascii: ";")) }
                first = false
                if (elemNeeds && directive == scriptSrcElem) || (srcNeeds && directive == scriptSrc) {
                    var end = directive.upperBound
                    while end > directive.lowerBound, Self.isSpace(bytes[end - 1]) { end -= 1 }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[directive.lowerBound..<end]))
                    appendSource(nonce, into: &out)
                } else {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[directive]))
                }
            }
            if let copiedDefault {
                // A `script-src` copied from `default-src`, so only scripts change.
                out.append(contentsOf: "; script-src".utf8)
                var firstSource = true
                forEachSource(of: copiedDefault) { source in
                    out.append(UInt8(ascii: " "))
                    firstSource = false
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[source]))
                }
                if firstSource { out.append(UInt8(ascii: " ")) }
                appendSource(nonce, into: &out)
            }
            return true
        }

        private func appendSource(_ nonce: String, into out: inout [UInt8]) {
            out.append(contentsOf: " 'nonce-".utf8)
            out.append(contentsOf: nonce.utf8)
            out.append(UInt8(ascii: "'"))
        }

        private func forEachDirective(_ body: (Range<Int>) -> Void) {
            ContentSecurityPolicyNonce.forEachElement(of: bytes, in: range, separatedBy: UInt8(ascii: ";"), body)
        }

        /// The tokens of `range` between white space.
        private func forEachToken(in range: Range<Int>, _ body: (Range<Int>) -> Void) {
            var at = range.lowerBound
            while let token = firstToken(at..<range.upperBound) {
                body(token)
                at = token.upperBound
            }
        }

        /// The first token of `range`, if it has one.
        private func firstToken(_ range: Range<Int>) -> Range<Int>? {
            var at = range.lowerBound
            while at < range.upperBound, Self.isSpace(bytes[at]) { at += 1 }
            let start = at
            while at < range.upperBound, !Self.isSpace(bytes[at]) { at += 1 }
            return at > start ? start..<at : nil
        }

        /// The directive's sources: its tokens after the name.
        private func forEachSource(of directive: Range<Int>, _ body: (Range<Int>) -> Void) {
            guard let name = firstToken(directive) else { return }
            forEachToken(in: name.upperBound..<directive.upperBound, body)
        }

        /// Whether a script directive would block the injected inline script: it does not
        /// allow `'unsafe-inline'`, or does alongside a nonce, a hash or `'strict-dynamic'`
        /// (which switch `'unsafe-inline'` off, CSP3 §6.7.3.2).
        private func needsNonce(_ directive: Range<Int>) -> Bool {
            var unsafeInline = false
            var overridesUnsafeInline = false
            forEachSource(of: directive) { source in
                if bytes.equalsIgnoringASCIICase(source, "'unsafe-inline'") { unsafeInline = true }
                if bytes.equalsIgnoringASCIICase(source, "'strict-dynamic'") || hasPrefix(source, "'nonce-") || hasPrefix(source, "'sha256-")
                    || hasPrefix(source, "'sha384-") || hasPrefix(source, "'sha512-") {
                    overridesUnsafeInline = true
                }
            }
            return !unsafeInline || overridesUnsafeInline
        }

        private func hasPrefix(_ source: Range<Int>, _ lowercase: StaticString) -> Bool {
            let count = lowercase.utf8CodeUnitCount
            return source.count >= count && bytes.equalsIgnoringASCIICase(source.lowerBound..<source.lowerBound + count, lowercase)
        }

        /// CSP's ASCII white space (space, tab, LF, CR, form feed).
        private static func isSpace(_ byte: UInt8) -> Bool {
            byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C
        }
    }
}
