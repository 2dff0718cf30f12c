import GatehouseAuth
import GatehouseTesting
import Testing

@Suite("TokenSigner (dev mode, token mint)")
struct TokenSignerTests {
    @Test(arguments: TestKeyKind.allCases)
    func roundTrip(kind: TestKeyKind) throws {
        let key = try TestKey.shared(kind)
        let signer = try TokenSigner(pkcs8PEM: key.pkcs8PEM, kid: "k1")
        #expect(signer.algorithm == kind.defaultAlgorithm)
        #expect(signer.pkcs8PEM.contains("BEGIN PRIVATE KEY"))
        // The signer's own JWK verifies its tokens.
        let jwk = signer.publicJWK()
        #expect(jwk["kid"] == "k1")
        #expect(jwk["use"] == "sig")
        #expect(jwk["alg"] == .string(kind.defaultAlgorithm.rawValue))
        let set = try VerificationKeySet(jwksJSON: TokenFactory.jwksJSON([jwk]))
        let token = try signer.sign(claims: TokenFactory.claims(now: Fixture.now))
        #expect(TokenShape.looksLikeJWT(token))
        #expect(TokenVerifier(policy: .init()).verify(token, keys: set, now: Fixture.now).rejectionReason == nil)
        // And the test key's independent public key agrees.
        let pemSet = VerificationKeySet(keys: [try VerificationKey(pem: key.publicKeyPEM, kid: "k1")])
        #expect(TokenVerifier(policy: .init()).verify(token, keys: pemSet, now: Fixture.now).rejectionReason == nil)
        // Reloading the exported PEM gives the same public key.
        let again = try TokenSigner(pkcs8PEM: signer.pkcs8PEM, kid: "k1")
        #expect(again.publicJWK() == jwk)
    }

    @Test func generatedEd25519() throws {
        let signer = TokenSigner.generateEd25519(kid: "dev")
        #expect(signer.algorithm == .edDSA)
        #expect(signer.kid == "dev")
        let reloaded = try TokenSigner(pkcs8PEM: signer.pkcs8PEM, kid: "dev")
        #expect(reloaded.publicJWK() == signer.publicJWK())
        let header = try #require(try signer.sign(claims: ["sub": "x", "exp": 1]).split(separator: ".").first)
        let decoded = try StrictJSON.parse(try #require(Base64URL.decode(header)))
        #expect(decoded == ["alg": "EdDSA", "typ": "JWT", "kid": "dev"])
    }

    @Test func rejectsPublicOrGarbageKeys() throws {
        #expect(throws: AuthKeyError.self) { try TokenSigner(pkcs8PEM: "nope", kid: nil) }
        #expect(throws: AuthKeyError.self) { try TokenSigner(pkcs8PEM: try TestKey.shared(.p256).publicKeyPEM, kid: nil) }
    }
}
