/// Tells a JWT from an opaque API key: a bearer with exactly two dots is a JWT (SPEC).
public enum TokenShape {
    /// True when `bearer` contains exactly two `.`.
    public static func looksLikeJWT(_ bearer: some StringProtocol) -> Bool {
        looksLikeJWT(String(bearer))
    }

    /// The per-request form: concrete, so callers in other modules get specialised code.
    public static func looksLikeJWT(_ bearer: String) -> Bool {
        var bearer = bearer
        // Over the contiguous UTF-8 buffer: a token is ~1 KB, read on every request.
        return bearer.withUTF8 { bytes in
            var dots = 0
            for c in bytes where c == UInt8(ascii: ".") {
                dots += 1
                if dots > 2 { return false }
            }
            return dots == 2
        }
    }
}
