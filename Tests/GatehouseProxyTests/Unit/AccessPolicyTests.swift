import GatehouseAuth
import GatehouseCore
@testable import GatehouseProxy
import Testing

/// `policy` (SPEC: the app's `authorizeUser`) decided from the verified token: emails and
/// domains compared without case, the domain after the last `@`.
@Suite struct AccessPolicyTests {
    private static func token(email: String?, claims: [String: JSONValue] = [:]) -> VerifiedToken {
        VerifiedToken(subject: "user_1", expiresAt: 2e9, issuedAt: nil, email: email, name: nil, picture: nil, claims: claims)
    }

    @Test func emailsAndDomainsDecide() {
        var config = PolicyConfiguration()
        config.allowEmailDomains = ["Example.com", "@corp.example"]
        config.allowEmails = ["Grace@Example.NET"]
        let policy = AccessPolicy(config)
        #expect(!policy.isOpen)
        for email in ["ada@example.com", "ADA.LOVELACE@EXAMPLE.COM", "x@corp.example", "grace@example.net", "GRACE@example.NET", "odd\"@local\"@example.com"] {
            #expect(policy.allows(Self.token(email: email)), "\(email)")
        }
        for email in ["ada@example.org", "ada@sub.example.com", "example.com", "ada@example.com.evil", "mallory@example.net", "@", "", "a@", "ada@exämple.com"] {
            #expect(!policy.allows(Self.token(email: email)), "\(email)")
        }
        #expect(!policy.allows(Self.token(email: nil)))
    }

    @Test func requiredClaimsMustAllMatch() {
        var config = PolicyConfiguration()
        config.requireClaims = ["org_role": "admin", "verified": "true"]
        let policy = AccessPolicy(config)
        #expect(policy.allows(Self.token(email: nil, claims: ["org_role": .string("admin"), "verified": .bool(true)])))
        #expect(!policy.allows(Self.token(email: nil, claims: ["org_role": .string("admin")])))
        #expect(!policy.allows(Self.token(email: nil, claims: ["org_role": .string("member"), "verified": .bool(true)])))
        #expect(AccessPolicy(PolicyConfiguration()).isOpen)
    }
}
