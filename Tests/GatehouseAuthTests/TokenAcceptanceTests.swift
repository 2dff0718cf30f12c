import GatehouseAuth
import GatehouseTesting
import Testing

@Suite("Valid tokens for every algorithm")
struct TokenAcceptanceTests {
    static let cases: [(TestKeyKind, JWTAlgorithm)] = [
        (.rsa2048, .rs256), (.rsa2048, .rs384), (.rsa2048, .rs512), (.rsa2048, .ps256),
        (.p256, .es256), (.p384, .es384), (.ed25519, .edDSA),
    ]

    @Test(arguments: cases)
    func accepted(kind: TestKeyKind, alg: JWTAlgorithm) throws {
        let f = try Fixture.make()
        let key = try TestKey.shared(kind)
        let claims = f.goodClaims(extra: ["email": "a@example.com", "given_name": "Ada", "family_name": "Lovelace", "image_url": "https://img.example/a.png"])
        let token = TokenFactory.token(key: key, alg: alg, claims: claims)
        guard case .verified(let verified) = f.verify(token) else {
            Issue.record("\(alg.rawValue) rejected: \(f.verify(token))")
            return
        }
        #expect(verified.subject == "user_123")
        #expect(verified.expiresAt == Fixture.now + 60)
        #expect(verified.issuedAt == Fixture.now)
        #expect(verified.email == "a@example.com")
        #expect(verified.name == "Ada Lovelace")
        #expect(verified.picture == "https://img.example/a.png")
        #expect(verified.claims["azp"] == .string(Fixture.party))
    }

    /// `name`, else the given and family names joined — either alone, empty ones skipped;
    /// none when both are empty.
    @Test(arguments: [
        (["given_name": "Ada", "family_name": "Lovelace"], "Ada Lovelace"),
        (["given_name": "Ada"], "Ada"),
        (["family_name": "Lovelace"], "Lovelace"),
        (["given_name": "", "family_name": "Lovelace"], "Lovelace"),
        (["given_name": "Ada", "family_name": ""], "Ada"),
        (["name": "Countess", "given_name": "Ada"], "Countess"),
        (["given_name": "", "family_name": ""], nil),
    ] as [([String: String], String?)])
    func nameIsTakenFromTheNameClaimsThatHaveOne(names: [String: String], expected: String?) throws {
        let f = try Fixture.make()
        let token = TokenFactory.token(key: f.p384, claims: f.goodClaims(extra: names.mapValues { .string($0) }))
        guard case .verified(let v) = f.verify(token) else {
            Issue.record("rejected")
            return
        }
        #expect(v.name == expected)
    }

    @Test func audienceArrayIntersects() throws {
        let f = try Fixture.make()
        let token = TokenFactory.token(key: f.p384, claims: f.goodClaims(extra: ["aud": ["other", "convex"], "name": "N", "picture": "p"]))
        guard case .verified(let v) = f.verify(token) else {
            Issue.record("array aud rejected")
            return
        }
        #expect(v.name == "N")
        #expect(v.picture == "p")
    }

    @Test func noPolicyChecksWhenUnset() throws {
        let f = try Fixture.make()
        let token = TokenFactory.token(key: f.ed25519, claims: TokenFactory.claims(now: Fixture.now))
        let outcome = TokenVerifier(policy: TokenVerificationPolicy()).verify(token, keys: f.keys, now: Fixture.now)
        #expect(outcome.rejectionReason == nil)
        #expect(f.verify(token).rejectionReason == .badIssuer)
    }

    @Test func devPolicy() throws {
        let signer = TokenSigner.generateEd25519(kid: "dev-1")
        let set = VerificationKeySet(keys: [signer.verificationKey])
        let token = try signer.sign(claims: ["sub": "dev_x", "iss": "gatehouse-dev", "aud": "app_1", "exp": .number(Fixture.now + 60), "iat": .number(Fixture.now)])
        let ok = TokenVerifier(policy: .dev(appID: "app_1")).verify(token, keys: set, now: Fixture.now)
        #expect(ok.rejectionReason == nil)
        let other = TokenVerifier(policy: .dev(appID: "app_2")).verify(token, keys: set, now: Fixture.now)
        #expect(other == .rejected(.badAudience))
    }
}
