import GatehouseCore

/// Tells a JWT from an opaque API key: a bearer with exactly two dots is a JWT (SPEC).
public enum TokenShape {
    /// True when `bearer` contains exactly two `.`.
    public static func looksLikeJWT(_ bearer: some StringProtocol) -> Bool {
        looksLikeJWT(String(bearer))
    }

    /// The per-request form: concrete, so callers in other modules get specialised code.
    public static func looksLikeJWT(_ bearer: String) -> Bool {
        bearer.withUTF8Bytes(hasExactlyTwoDots)
    }

    /// Dots found with `memchr`, which reads a word or a vector at a time: a token is ~1 KB,
    /// read on every request that is not in the verified-token cache (byte by byte it was
    /// ~2,700 instructions of a forged token's 401).
    static func hasExactlyTwoDots(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let dot = UInt8(ascii: ".")
        guard let first = bytes.offset(of: dot), let second = bytes.offset(of: dot, from: first + 1) else { return false }
        return bytes.offset(of: dot, from: second + 1) == nil
    }
}
