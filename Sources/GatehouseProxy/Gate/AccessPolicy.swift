import GatehouseAuth
import GatehouseCore

/// `policy` (SPEC: the app's `authorizeUser`): which authenticated users may call the
/// API. Immutable, built once per app; evaluated after the token is verified.
public struct AccessPolicy: Sendable {
    private let emails: Set<String>
    private let domains: Set<String>
    private let requiredClaims: [(String, String)]

    public init(_ config: PolicyConfiguration) {
        self.emails = Set(config.allowEmails.map { $0.lowercased() })
        self.domains = Set(config.allowEmailDomains.map { $0.lowercased().drop(while: { $0 == "@" }).description })
        self.requiredClaims = config.requireClaims.sorted { $0.key < $1.key }
    }

    /// Whether `policy` restricts anything at all (the common case is "no").
    public var isOpen: Bool { emails.isEmpty && domains.isEmpty && requiredClaims.isEmpty }

    /// Whether the verified user may pass. Services (api keys) are the owner's own and
    /// bypass the user policy.
    public func allows(_ token: VerifiedToken) -> Bool {
        if !emails.isEmpty || !domains.isEmpty {
            guard let (email, domain) = Self.lowercasedAddress(token.email) else { return false }
            guard emails.contains(email) || domains.contains(domain) else { return false }
        }
        for (name, expected) in requiredClaims {
            guard let value = token.claims[name], Self.matches(value, expected) else { return false }
        }
        return true
    }

    /// The address lowercased (as it is when it has no upper-case ASCII letter: nothing
    /// allocated) and the part after its last `@`, found by byte. Found by `Character`,
    /// lowercased every time, it was ~6,900 instructions per request of an app with a
    /// policy. Kept out of the cached `VerifiedToken`: two more strings there were copied
    /// and retained on every request of every app (+300).
    private static func lowercasedAddress(_ email: String?) -> (String, String)? {
        guard let email else { return nil }
        let plain = email.utf8.allSatisfy { $0 < 0x80 && !($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }
        let lowercased = plain ? email : email.lowercased()
        guard let at = lowercased.utf8.lastIndex(of: UInt8(ascii: "@")) else { return nil }
        return (lowercased, String(lowercased[lowercased.utf8.index(after: at)...]))
    }

    private static func matches(_ value: JSONValue, _ expected: String) -> Bool {
        switch value {
        case .string(let s): return s == expected
        case .bool(let b): return (b ? "true" : "false") == expected
        case .number(let n): return Double(expected) == n
        case .array(let items): return items.contains { matches($0, expected) }
        case .null, .object: return false
        }
    }
}
