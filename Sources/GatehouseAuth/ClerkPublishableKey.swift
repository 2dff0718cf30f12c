import Foundation

/// Derives Clerk's Frontend API host from a publishable key (SPEC "`clerk` mode").
///
/// `pk_test_`/`pk_live_` + base64("<host>$"): the issuer is then `https://<host>` and the JWKS
/// `https://<host>/.well-known/jwks.json`. The host is validated so a crafted key cannot point
/// the JWKS fetch at a URL with a path, credentials or a port.
public enum ClerkPublishableKey {
    /// The Frontend API host, or `nil` when the key is not a well-formed publishable key.
    public static func frontendAPIHost(_ pk: String) -> String? {
        let body: Substring
        if pk.hasPrefix("pk_test_") {
            body = pk.dropFirst(8)
        } else if pk.hasPrefix("pk_live_") {
            body = pk.dropFirst(8)
        } else {
            return nil
        }
        var b64 = String(body)
        guard !b64.isEmpty, !b64.contains("=") || b64.hasSuffix("=") else { return nil }
        while b64.utf8.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64) else { return nil }
        guard let decoded = String(bytes: data, encoding: .utf8), decoded.hasSuffix("$") else { return nil }
        let host = String(decoded.dropLast())
        return isPlausibleHost(host) ? host : nil
    }

    /// The issuer Clerk puts in `iss` for this key: `https://<host>`.
    public static func issuer(_ pk: String) -> String? {
        frontendAPIHost(pk).map { "https://\($0)" }
    }

    /// The JWKS URL for this key: `https://<host>/.well-known/jwks.json`.
    public static func jwksURL(_ pk: String) -> String? {
        frontendAPIHost(pk).map { "https://\($0)/.well-known/jwks.json" }
    }

    /// A DNS name: dot-separated labels of letters, digits and inner hyphens, at least two labels.
    static func isPlausibleHost(_ host: String) -> Bool {
        guard host.utf8.count <= 253 else { return false }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-" else { return false }
            for c in label.utf8 {
                let ok =
                    (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                    || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-")
                guard ok else { return false }
            }
        }
        return true
    }
}
