/// Unpadded base64url (RFC 4648 §5), the only encoding JWS compact segments may use (RFC 7515 §2).
///
/// Decoding is strict on purpose: padding, `+`, `/`, white space and non-canonical trailing bits are
/// rejected, so one token has exactly one spelling and a cache keyed on the token text cannot be
/// side-stepped. Pure, allocation-light, safe on any thread.
public enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    @inline(__always)
    private static func value(of c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c &- UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c &- UInt8(ascii: "a") &+ 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0") &+ 52
        case UInt8(ascii: "-"): return 62
        case UInt8(ascii: "_"): return 63
        default: return nil
        }
    }

    /// Decodes unpadded base64url; `nil` for anything else (including an impossible length or
    /// non-zero trailing bits).
    public static func decode(_ s: some StringProtocol) -> [UInt8]? {
        decode(utf8: s.utf8)
    }

    /// Decodes unpadded base64url from raw bytes; see ``decode(_:)``.
    public static func decode(utf8 input: some Collection<UInt8>) -> [UInt8]? {
        let count = input.count
        if count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in input {
            guard let v = value(of: c) else { return nil }
            acc = (acc << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                acc &= (UInt32(1) << UInt32(bits)) &- 1
            }
        }
        // Leftover bits must be zero: otherwise two spellings decode to the same bytes.
        if acc != 0 { return nil }
        return out
    }

    /// Whether ``decode(utf8:)`` would accept `input`, without decoding it: the form of a
    /// segment whose bytes are needed only later (a JWS payload, once its signature holds).
    public static func isWellFormed(utf8 input: some Collection<UInt8>) -> Bool {
        let remainder = input.count % 4
        if remainder == 1 { return false }
        var last: UInt8 = 0
        for c in input {
            guard let v = value(of: c) else { return false }
            last = v
        }
        // The last character's unused low bits must be zero (one spelling per byte string).
        switch remainder {
        case 2: return last & 0x0F == 0
        case 3: return last & 0x03 == 0
        default: return true
        }
    }

    /// Encodes bytes as unpadded base64url.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 4 / 3 + 4)
        var acc: UInt32 = 0
        var bits = 0
        for b in bytes {
            acc = (acc << 8) | UInt32(b)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int((acc >> UInt32(bits)) & 0x3F)])
            }
            acc &= (UInt32(1) << UInt32(bits)) &- 1
        }
        if bits > 0 {
            out.append(alphabet[Int((acc << UInt32(6 - bits)) & 0x3F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
