import Foundation

/// Minimal PEM armour reader and writer (RFC 7468): label plus DER body.
///
/// Only the armour: the DER inside is handed to swift-crypto, except for the fixed-size
/// Ed25519 SPKI/PKCS#8 forms that older swift-crypto releases cannot read.
enum PEM {
    /// The first PEM block in `text`: its label and DER bytes.
    static func decode(_ text: String) -> (label: String, der: [UInt8])? {
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let beginIndex = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }) else {
            return nil
        }
        let begin = lines[beginIndex]
        let label = String(begin.dropFirst("-----BEGIN ".count).dropLast(5))
        let endLine = "-----END \(label)-----"
        guard let endIndex = lines[(beginIndex + 1)...].firstIndex(of: endLine) else { return nil }
        let body = lines[(beginIndex + 1)..<endIndex].joined()
        guard !body.isEmpty, let data = Data(base64Encoded: body) else { return nil }
        return (label, [UInt8](data))
    }

    /// PEM armour with 64-character lines.
    static func encode(label: String, der: [UInt8]) -> String {
        let b64 = Data(der).base64EncodedString()
        var out = "-----BEGIN \(label)-----\n"
        var start = b64.startIndex
        while start < b64.endIndex {
            let end = b64.index(start, offsetBy: 64, limitedBy: b64.endIndex) ?? b64.endIndex
            out += b64[start..<end] + "\n"
            start = end
        }
        out += "-----END \(label)-----\n"
        return out
    }

    /// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4); 32 key bytes follow.
    static let ed25519SPKIPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
    /// DER prefix of an Ed25519 PKCS#8 v1 private key (RFC 8410 §7); 32 seed bytes follow.
    static let ed25519PKCS8Prefix: [UInt8] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]

    /// The 32 bytes after `prefix` when `der` is exactly `prefix` + 32 bytes.
    static func fixedKey(_ der: [UInt8], prefix: [UInt8]) -> [UInt8]? {
        guard der.count == prefix.count + 32, der.starts(with: prefix) else { return nil }
        return Array(der[prefix.count...])
    }
}
