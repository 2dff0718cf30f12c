import GatehouseAuth
import GatehouseTesting
import Testing

@Suite("JWKS and PEM key loading")
struct KeyLoadingTests {
    @Test func jwksSkipsUnusableKeys() throws {
        let rsa = try TestKey.shared(.rsa2048)
        let p256 = try TestKey.shared(.p256)
        let ed = try TestKey.shared(.ed25519)
        let objects: [[String: JSONValue]] = [
            rsa.withKid("enc").publicJWK(extra: ["use": "enc"]),
            p256.withKid("wrap").publicJWK(extra: ["key_ops": ["wrapKey"]]),
            p256.withKid("verify").publicJWK(extra: ["key_ops": ["verify"], "use": "sig"]),
            ed.withKid("x448").publicJWK(extra: ["crv": "X25519"]),
            ["kty": "oct", "kid": "hmac", "k": "c2VjcmV0"],
            rsa.withKid("ps384").publicJWK(extra: ["alg": "PS384"]),
            p256.withKid("mismatch").publicJWK(alg: .es384),
            rsa.withKid("ok").publicJWK(),
            ["kty": "EC", "crv": "P-256", "kid": "short", "x": "AAAA", "y": "AAAA"],
        ]
        let jwks = TokenFactory.jwksJSON(entries: objects.map { .object($0) } + ["not an object", 42])
        let set = try VerificationKeySet(jwksJSON: jwks)
        #expect(set.count == 2)
        #expect(set.key(forKid: "ok") != nil)
        #expect(set.key(forKid: "verify") != nil)
        for kid in ["enc", "wrap", "x448", "hmac", "ps384", "mismatch", "short"] {
            #expect(set.key(forKid: kid) == nil, "\(kid)")
        }
        // An `enc` key really is never used, even for a token signed by that key.
        let token = TokenFactory.token(key: rsa.withKid("enc"), claims: TokenFactory.claims(now: Fixture.now))
        #expect(TokenVerifier(policy: .init()).verify(token, keys: set, now: Fixture.now) == .unknownKid("enc"))
    }

    @Test func notAJWKSThrows() {
        for doc in [#"[]"#, #"{"keys":{}}"#, #"{"k":[]}"#, "nope", #"{"keys":[],"keys":[]}"#] {
            #expect(throws: AuthKeyError.notAJWKS) { try VerificationKeySet(jwksJSON: Array(doc.utf8)) }
        }
        #expect((try? VerificationKeySet(jwksJSON: Array(#"{"keys":[]}"#.utf8)))?.isEmpty == true)
    }

    @Test(arguments: TestKeyKind.allCases)
    func spkiPEM(kind: TestKeyKind) throws {
        let key = try TestKey.shared(kind)
        let loaded = try VerificationKey(pem: key.publicKeyPEM)
        #expect(loaded.kid == nil)
        #expect(loaded.allows(kind.defaultAlgorithm))
        let input = Array("header.payload".utf8)
        #expect(loaded.isValidSignature(key.signature(over: input), for: input, alg: kind.defaultAlgorithm))
        #expect(!loaded.isValidSignature(key.signature(over: input), for: Array("header.payloaD".utf8), alg: kind.defaultAlgorithm))
        #expect(try VerificationKey(pem: loaded.pemRepresentation).jwk == loaded.jwk)
    }

    @Test func rsaPKCS1PEM() throws {
        let key = try TestKey.shared(.rsa2048)
        let pem = try #require(key.rsaPKCS1PublicKeyPEM)
        #expect(pem.contains("BEGIN RSA PUBLIC KEY"))
        let loaded = try VerificationKey(pem: pem)
        #expect(loaded.keyType == .rsa)
        let input = Array("a.b".utf8)
        #expect(loaded.isValidSignature(key.signature(over: input, alg: .ps256), for: input, alg: .ps256))
    }

    @Test func badPEMThrows() {
        #expect(throws: AuthKeyError.invalidPEM) { try VerificationKey(pem: "not a pem") }
        #expect(throws: AuthKeyError.unsupportedKeyType) {
            try VerificationKey(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        }
    }

    @Test func keyTypesAllowOnlyTheirAlgorithms() throws {
        let expectations: [(TestKeyKind, Set<JWTAlgorithm>)] = [
            (.rsa2048, [.rs256, .rs384, .rs512, .ps256]), (.p256, [.es256]), (.p384, [.es384]), (.ed25519, [.edDSA]),
        ]
        for (kind, allowed) in expectations {
            let key = try VerificationKey(jwk: try TestKey.shared(kind).publicJWK())
            for alg in JWTAlgorithm.allCases {
                #expect(key.allows(alg) == allowed.contains(alg), "\(kind) \(alg)")
            }
        }
        let restricted = try VerificationKey(jwk: try TestKey.shared(.rsa2048).publicJWK(alg: .ps256))
        #expect(JWTAlgorithm.allCases.filter { restricted.allows($0) } == [.ps256])
    }
}
