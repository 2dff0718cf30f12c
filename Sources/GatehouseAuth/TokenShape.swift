#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
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
        guard let base = bytes.baseAddress else { return false }
        var start = UnsafeRawPointer(base)
        let end = start + bytes.count
        var dots = 0
        while start < end, let found = memchr(start, Int32(UInt8(ascii: ".")), end - start) {
            dots += 1
            if dots > 2 { return false }
            start = UnsafeRawPointer(found) + 1
        }
        return dots == 2
    }
}
