/// Tells a JWT from an opaque API key: a bearer with exactly two dots is a JWT (SPEC).
public enum TokenShape {
    /// True when `bearer` contains exactly two `.`.
    public static func looksLikeJWT(_ bearer: some StringProtocol) -> Bool {
        looksLikeJWT(String(bearer))
    }

    /// The per-request form: concrete, so callers in other modules get specialised code.
    public static func looksLikeJWT(_ bearer: String) -> Bool {
        var dots = 0
        for c in bearer.utf8 where c == UInt8(ascii: ".") {
            dots += 1
            if dots > 2 { return false }
        }
        return dots == 2
    }
}
