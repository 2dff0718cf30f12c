import Crypto

/// The identity behind an app's server-to-server API key (`service:<name>` downstream).
public struct APIKeyIdentity: Sendable, Equatable {
    public let name: String
    public let admin: Bool

    public init(name: String, admin: Bool) {
        self.name = name
        self.admin = admin
    }
}

/// An app's API keys, of which only the SHA-256 is kept, looked up in constant time.
///
/// Every entry is compared on every look-up with a constant-time compare and no early exit, so
/// response timing says nothing about which key (or how much of one) matched. Immutable and
/// shared across event loops.
public final class APIKeyTable: Sendable {
    private struct Entry: Sendable {
        let digest: [UInt8]
        let identity: APIKeyIdentity
    }

    private let entries: [Entry]

    /// Entries whose `sha256Hex` is not 64 hex digits are dropped (config validation reports
    /// them; see ``APIKeyHash/digest(fromHex:)``).
    public init(entries: [(name: String, sha256Hex: String, admin: Bool)]) {
        self.entries = entries.compactMap { e in
            guard let digest = APIKeyHash.digest(fromHex: e.sha256Hex) else { return nil }
            return Entry(digest: digest, identity: APIKeyIdentity(name: e.name, admin: e.admin))
        }
    }

    /// An empty table.
    public static let empty = APIKeyTable(entries: [])

    /// How many usable keys the table holds.
    public var count: Int { entries.count }

    /// True when the table holds no key.
    public var isEmpty: Bool { entries.isEmpty }

    /// The identity whose key hashes to the same SHA-256 as `presented`, or `nil`.
    public func lookup(_ presented: some StringProtocol) -> APIKeyIdentity? {
        lookup(String(presented))
    }

    /// The per-request form: concrete, so callers in other modules get specialised code.
    public func lookup(_ presented: String) -> APIKeyIdentity? {
        let digest = Array(SHA256.hash(data: Array(presented.utf8)))
        var found = -1
        for (index, entry) in entries.enumerated() {
            let equal = Self.constantTimeEqual(digest, entry.digest)
            // Branch-free select: mask is all ones when equal.
            let mask = 0 &- Int(equal)
            found = (index & mask) | (found & ~mask)
        }
        return found >= 0 ? entries[found].identity : nil
    }

    /// 1 when equal, 0 otherwise; time depends only on the lengths.
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> UInt8 {
        guard a.count == b.count else { return 0 }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        // 1 when diff == 0, without a branch.
        return UInt8(truncatingIfNeeded: (UInt16(diff) &- 1) >> 8) & 1
    }
}

/// SHA-256 of an API key, as `gatehouse keys hash` prints it and `api_keys[].sha256` stores it.
public enum APIKeyHash {
    /// Lowercase hex SHA-256 of the key bytes.
    public static func hex(_ key: some Collection<UInt8>) -> String {
        let digest = SHA256.hash(data: Array(key))
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Lowercase hex SHA-256 of the key's UTF-8 bytes.
    public static func hex(_ key: String) -> String { hex(Array(key.utf8)) }

    /// The 32 digest bytes from 64 hex digits (either case), or `nil`.
    public static func digest(fromHex hex: some StringProtocol) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var i = 0
        while i < 64 {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
