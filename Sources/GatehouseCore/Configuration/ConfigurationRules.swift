/// Single-value rules shared by the decoders.
enum ConfigurationRules {
    /// A name safe as a directory or file name component: `[A-Za-z0-9._-]+`, not `.` or `..`.
    static func isSafeName(_ text: String) -> Bool {
        !text.isEmpty && text != "." && text != ".."
            && text.unicodeScalars.allSatisfy { isASCIIAlphanumeric($0) || $0 == "." || $0 == "_" || $0 == "-" }
    }

    /// Visible ASCII with no spaces: safe in a header value and a log field.
    static func isPrintableToken(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7f }
    }

    /// 64 hex digits (either case).
    static func isSHA256Hex(_ text: String) -> Bool {
        text.unicodeScalars.count == 64 && text.unicodeScalars.allSatisfy(\.properties.isASCIIHexDigit)
    }

    /// An RFC 9110 field name (`token`).
    static func isHeaderName(_ text: String) -> Bool {
        let extra: Set<Unicode.Scalar> = ["!", "#", "$", "%", "&", "'", "*", "+", "-", ".", "^", "_", "`", "|", "~"]
        return !text.isEmpty && text.unicodeScalars.allSatisfy { isASCIIAlphanumeric($0) || extra.contains($0) }
    }

    /// An RFC 9110 field value: no CR, LF or NUL (no header injection).
    static func isHeaderValue(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 != "\r" && $0 != "\n" && $0 != "\0" }
    }

    /// An absolute `http://` or `https://` URL with a host.
    static func isHTTPURL(_ text: String) -> Bool {
        for scheme in ["http://", "https://"] where text.hasPrefix(scheme) {
            let rest = text.dropFirst(scheme.count)
            return !rest.isEmpty && !rest.hasPrefix("/") && !rest.contains(where: { $0.isWhitespace })
        }
        return false
    }

    private static func isASCIIAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}
