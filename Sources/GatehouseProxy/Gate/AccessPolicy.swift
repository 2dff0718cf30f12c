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
            // Lowercased and split when the token was verified: found here by `Character`
            // on every request it was ~6,900 instructions of an app with a policy.
            guard let email = token.lowercasedEmail, let domain = token.emailDomain else { return false }
            guard emails.contains(email) || domains.contains(domain) else { return false }
        }
        for (name, expected) in requiredClaims {
            guard let value = token.claims[name], Self.matches(value, expected) else { return false }
        }
        return true
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
