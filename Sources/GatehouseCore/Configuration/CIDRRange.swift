import Foundation

/// An IPv4 or IPv6 network (`127.0.0.1/32`, `::1/128`), for `trusted_proxies`.
public struct CIDRRange: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Network address bytes (4 or 16).
    public let address: [UInt8]
    public let prefixLength: Int

    public init?(parsing text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = IPAddressBytes.parse(String(parts[0])) else { return nil }
        let maxBits = bytes.count * 8
        var length = maxBits
        if parts.count == 2 {
            guard let l = Int(parts[1]), l >= 0, l <= maxBits, parts[1].allSatisfy(\.isNumber) else { return nil }
            length = l
        }
        self.address = bytes
        self.prefixLength = length
    }

    /// Whether the peer address (4 or 16 bytes) lies in this network; an IPv4-mapped
    /// IPv6 peer (`::ffff:a.b.c.d`) matches IPv4 ranges.
    public func contains(_ peer: [UInt8]) -> Bool {
        var candidate = peer
        if address.count == 4, peer.count == 16,
           peer[0..<10].allSatisfy({ $0 == 0 }), peer[10] == 0xff, peer[11] == 0xff {
            candidate = Array(peer[12..<16])
        }
        guard candidate.count == address.count else { return false }
        var bits = prefixLength
        var i = 0
        while bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xff : ~(0xff >> UInt8(bits))
            if (candidate[i] & mask) != (address[i] & mask) { return false }
            bits -= 8
            i += 1
        }
        return true
    }

    public var description: String { "\(IPAddressBytes.format(address))/\(prefixLength)" }
}

/// Textual IP addresses to and from bytes, without a resolver.
public enum IPAddressBytes {
    public static func parse(_ text: String) -> [UInt8]? {
        if text.contains(":") { return parseV6(text) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isNumber), let v = UInt8(p) else { return nil }
            out.append(v)
        }
        return out
    }

    private static func parseV6(_ text: String) -> [UInt8]? {
        var halves: [String] = []
        if let range = text.range(of: "::") {
            halves = [String(text[..<range.lowerBound]), String(text[range.upperBound...])]
            guard !halves[1].contains("::") else { return nil }
        } else {
            halves = [text]
        }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let items = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if item.contains("."), i == items.count - 1, let v4 = parse(String(item)) {
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard !item.isEmpty, item.count <= 4, let v = UInt16(item, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all: [UInt16]
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            all = head
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    public static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [String] = []
        var i = 0
        while i + 1 < bytes.count {
            groups.append(String(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), radix: 16))
            i += 2
        }
        return groups.joined(separator: ":")
    }
}
