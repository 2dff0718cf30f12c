import Foundation
@testable import GatehouseAuth
import GatehouseTesting
import Testing

/// Each attack and each claim failure, with the reason the SPEC names for it.
enum Attack: String, CaseIterable, Sendable {
    case algNone, algNoneCapitalised, hs256WithRSAKid, unknownAlg, hs256WithJKU
    case headerJWK, headerJKU, headerX5U, headerX5C, headerCrit
    case duplicateHeaderMember, duplicatePayloadMember, headerNotObject, payloadNotObject
    case headerTrailingGarbage, paddedSegment, plusInSegment, slashInSignature, twoSegments, fourSegments
    case missingAlg, algNotString, kidNotString
    case unknownKid, missingKidNoFallback
    case p256KeyWithES384, rs256OnlyKeyWithPS256, rsaKeyWithES256, ed25519KeyWithRS256
    case signedByAnotherKey, ecdsaDERSignature, tamperedPayload, unsignedGarbagePayload, emptySignature
    case expAsString, missingExp, missingSub, emptySub, subNotString, subWithCRLF, subWithDEL, nbfAsString, iatAsString
    case expired, expiredAtSkewEdge, nbfInFuture, iatInFuture
    case issuerTrailingSlash, issuerCase, issuerMissing
    case audienceMismatch, audienceMissing, audienceArrayMismatch
    case azpMissing, azpUnlisted, stsPending
    case badSignatureBeatsExpired, expiredBeatsBadIssuer, issuerBeatsAudience

    enum Expected: Equatable {
        case reason(TokenRejectionReason)
        case unknownKid(String?)
    }

    func build(_ f: Fixture) throws -> (token: String, expected: Expected) {
        let now = Fixture.now
        let good = f.goodClaims()
        func signed(_ key: TestKey, alg: JWTAlgorithm? = nil, header: [String: JSONValue] = [:], claims: [String: JSONValue]? = nil) -> String {
            TokenFactory.token(key: key, alg: alg, header: header, claims: claims ?? good)
        }
        func claimsJSON(_ c: [String: JSONValue]) -> String { StrictJSON.serialize(.object(c)) }
        switch self {
        case .algNone:
            let t = TokenFactory.forgedToken(header: ["alg": "none", "kid": .string(f.rsa.kid)], claims: good, signature: [])
            return (t, .reason(.unsupportedAlg))
        case .algNoneCapitalised:
            let t = TokenFactory.forgedToken(header: ["alg": "None"], claims: good, signature: [])
            return (t, .reason(.unsupportedAlg))
        case .hs256WithRSAKid:
            // The classic confusion: HMAC keyed with the RSA public key's PEM text.
            let t = TokenFactory.hmacToken(
                secret: Array(f.rsa.publicKeyPEM.utf8), header: ["alg": "HS256", "typ": "JWT", "kid": .string(f.rsa.kid)],
                claims: good)
            return (t, .reason(.unsupportedAlg))
        case .unknownAlg:
            return (signed(f.rsa, header: ["alg": "RS1024"]), .reason(.unsupportedAlg))
        case .hs256WithJKU:
            return (signed(f.rsa, header: ["alg": "HS256", "jku": "https://evil.example/jwks"]), .reason(.unsupportedAlg))
        case .headerJWK:
            return (signed(f.rsa, header: ["jwk": .object(f.rsa.publicJWK())]), .reason(.malformed))
        case .headerJKU:
            return (signed(f.rsa, header: ["jku": "https://evil.example/jwks.json"]), .reason(.malformed))
        case .headerX5U:
            return (signed(f.rsa, header: ["x5u": "https://evil.example/cert.pem"]), .reason(.malformed))
        case .headerX5C:
            return (signed(f.rsa, header: ["x5c": ["MIIB"]]), .reason(.malformed))
        case .headerCrit:
            return (signed(f.rsa, header: ["crit": ["exp"]]), .reason(.malformed))
        case .duplicateHeaderMember:
            let t = TokenFactory.signedRawToken(
                key: f.rsa, headerJSON: #"{"alg":"RS256","kid":"\#(f.rsa.kid)","alg":"RS256"}"#, payloadJSON: claimsJSON(good))
            return (t, .reason(.malformed))
        case .duplicatePayloadMember:
            var c = good
            c["sub"] = nil
            let payload = "{\"sub\":\"alice\"," + claimsJSON(c).dropFirst().dropLast() + ",\"sub\":\"admin\"}"
            let t = TokenFactory.signedRawToken(
                key: f.rsa, headerJSON: #"{"alg":"RS256","kid":"\#(f.rsa.kid)"}"#, payloadJSON: payload)
            return (t, .reason(.malformed))
        case .headerNotObject:
            return (TokenFactory.signedRawToken(key: f.rsa, headerJSON: #"["RS256"]"#, payloadJSON: claimsJSON(good)), .reason(.malformed))
        case .payloadNotObject:
            let t = TokenFactory.signedRawToken(key: f.rsa, headerJSON: #"{"alg":"RS256","kid":"\#(f.rsa.kid)"}"#, payloadJSON: #""alice""#)
            return (t, .reason(.malformed))
        case .headerTrailingGarbage:
            let t = TokenFactory.signedRawToken(
                key: f.rsa, headerJSON: #"{"alg":"RS256","kid":"\#(f.rsa.kid)"} x"#, payloadJSON: claimsJSON(good))
            return (t, .reason(.malformed))
        case .paddedSegment:
            let parts = signed(f.rsa).split(separator: ".").map(String.init)
            var header = parts[0]
            while header.utf8.count % 4 != 0 { header += "=" }
            if header == parts[0] { header += "====" }
            return (TokenFactory.rawToken(headerSegment: header, payloadSegment: parts[1], signatureSegment: parts[2]), .reason(.malformed))
        case .plusInSegment:
            let parts = signed(f.rsa).split(separator: ".").map(String.init)
            let payload = parts[1].replacingOccurrences(of: "-", with: "+") + "+AAA"
            return (TokenFactory.rawToken(headerSegment: parts[0], payloadSegment: payload, signatureSegment: parts[2]), .reason(.malformed))
        case .slashInSignature:
            let parts = signed(f.rsa).split(separator: ".").map(String.init)
            return (TokenFactory.rawToken(headerSegment: parts[0], payloadSegment: parts[1], signatureSegment: "/" + parts[2].dropFirst()), .reason(.malformed))
        case .twoSegments:
            let parts = signed(f.rsa).split(separator: ".").map(String.init)
            return (parts[0] + "." + parts[1], .reason(.malformed))
        case .fourSegments:
            return (signed(f.rsa) + ".AAAA", .reason(.malformed))
        case .missingAlg:
            let t = TokenFactory.signedRawToken(key: f.rsa, headerJSON: #"{"kid":"\#(f.rsa.kid)"}"#, payloadJSON: claimsJSON(good))
            return (t, .reason(.malformed))
        case .algNotString:
            return (signed(f.rsa, header: ["alg": 256]), .reason(.malformed))
        case .kidNotString:
            return (signed(f.rsa, header: ["kid": 7]), .reason(.malformed))
        case .unknownKid:
            return (signed(f.rsa.withKid("nope")), .unknownKid("nope"))
        case .missingKidNoFallback:
            return (TokenFactory.token(key: f.rsa, includeKid: false, claims: good), .unknownKid(nil))
        case .p256KeyWithES384:
            return (signed(f.p256, alg: .es384), .reason(.unsupportedAlg))
        case .rs256OnlyKeyWithPS256:
            return (signed(f.rsaRS256Only, alg: .ps256), .reason(.unsupportedAlg))
        case .rsaKeyWithES256:
            return (signed(f.p256.withKid(f.rsa.kid), alg: .es256), .reason(.unsupportedAlg))
        case .ed25519KeyWithRS256:
            return (signed(f.rsa.withKid(f.ed25519.kid), alg: .rs256), .reason(.unsupportedAlg))
        case .signedByAnotherKey:
            return (signed(f.otherRSA), .reason(.badSignature))
        case .ecdsaDERSignature:
            let header = StrictJSON.serialize(["alg": "ES256", "kid": .string(f.p256.kid)])
            let input = Base64URL.encode(header.utf8) + "." + Base64URL.encode(claimsJSON(good).utf8)
            let der = try #require(f.p256.derSignature(over: Array(input.utf8)))
            return (input + "." + Base64URL.encode(der), .reason(.badSignature))
        case .tamperedPayload:
            let parts = signed(f.ed25519).split(separator: ".").map(String.init)
            var c = good
            c["sub"] = "admin"
            return (TokenFactory.rawToken(headerSegment: parts[0], payloadSegment: Base64URL.encode(claimsJSON(c).utf8), signatureSegment: parts[2]), .reason(.badSignature))
        case .unsignedGarbagePayload:
            // Well-formed base64url, not JSON, under someone else's signature: the signature
            // is checked first, so nothing an attacker wrote is parsed.
            let parts = signed(f.rsa).split(separator: ".").map(String.init)
            return (TokenFactory.rawToken(headerSegment: parts[0], payloadSegment: Base64URL.encode(Array("{not json".utf8)), signatureSegment: parts[2]), .reason(.badSignature))
        case .emptySignature:
            let parts = signed(f.rsa).split(separator: ".").map(String.init)
            return (parts[0] + "." + parts[1] + ".", .reason(.badSignature))
        case .expAsString:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["exp": .string(String(Int(now) + 60))])), .reason(.malformed))
        case .missingExp:
            var c = good
            c["exp"] = nil
            return (signed(f.rsa, claims: c), .reason(.malformed))
        case .missingSub:
            var c = good
            c["sub"] = nil
            return (signed(f.rsa, claims: c), .reason(.malformed))
        case .emptySub:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["sub": ""])), .reason(.malformed))
        case .subNotString:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["sub": 42])), .reason(.malformed))
        case .subWithCRLF:
            // `sub` becomes X-Gatehouse-User upstream: a signed CR LF must not split it.
            return (signed(f.rsa, claims: f.goodClaims(extra: ["sub": "user_1\r\nX-Gatehouse-Org: org_evil"])), .reason(.malformed))
        case .subWithDEL:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["sub": "user_1\u{7F}"])), .reason(.malformed))
        case .nbfAsString:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["nbf": "1700000000"])), .reason(.malformed))
        case .iatAsString:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["iat": "1700000000"])), .reason(.malformed))
        case .expired:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["exp": .number(now - 60)])), .reason(.expired))
        case .expiredAtSkewEdge:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["exp": .number(now - 5)])), .reason(.expired))
        case .nbfInFuture:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["nbf": .number(now + 6)])), .reason(.notYetValid))
        case .iatInFuture:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["iat": .number(now + 30)])), .reason(.notYetValid))
        case .issuerTrailingSlash:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["iss": .string(Fixture.issuer + "/")])), .reason(.badIssuer))
        case .issuerCase:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["iss": "https://Issuer.example"])), .reason(.badIssuer))
        case .issuerMissing:
            var c = good
            c["iss"] = nil
            return (signed(f.rsa, claims: c), .reason(.badIssuer))
        case .audienceMismatch:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["aud": "other"])), .reason(.badAudience))
        case .audienceMissing:
            var c = good
            c["aud"] = nil
            return (signed(f.rsa, claims: c), .reason(.badAudience))
        case .audienceArrayMismatch:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["aud": ["a", "Convex"]])), .reason(.badAudience))
        case .azpMissing:
            var c = good
            c["azp"] = nil
            return (signed(f.rsa, claims: c), .reason(.unauthorizedParty))
        case .azpUnlisted:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["azp": "https://evil.example"])), .reason(.unauthorizedParty))
        case .stsPending:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["sts": "pending"])), .reason(.unauthorizedParty))
        case .badSignatureBeatsExpired:
            return (signed(f.otherRSA, claims: f.goodClaims(extra: ["exp": .number(now - 600)])), .reason(.badSignature))
        case .expiredBeatsBadIssuer:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["exp": .number(now - 600), "iss": "x"])), .reason(.expired))
        case .issuerBeatsAudience:
            return (signed(f.rsa, claims: f.goodClaims(extra: ["aud": "x", "iss": "x"])), .reason(.badIssuer))
        }
    }
}

@Suite("JWT attacks and claim failures")
struct TokenAttackTests {
    @Test(arguments: Attack.allCases)
    func rejected(_ attack: Attack) throws {
        let f = try Fixture.make()
        let (token, expected) = try attack.build(f)
        switch f.verify(token) {
        case .verified:
            Issue.record("\(attack.rawValue) was accepted")
        case .rejected(let reason):
            #expect(Attack.Expected.reason(reason) == expected, "\(attack.rawValue)")
        case .unknownKid(let kid):
            #expect(Attack.Expected.unknownKid(kid) == expected, "\(attack.rawValue)")
        }
    }

    /// The loop's parsed headers (``JOSEHeaderCache``) change no outcome: every attack and
    /// a good token for each key, run twice through one shared cache (the second round
    /// finds every header that parsed), each give what a fresh verification gives.
    @Test func aSharedHeaderCacheChangesNoOutcome() throws {
        let f = try Fixture.make()
        let verifier = TokenVerifier(policy: f.policy)
        var tokens = try Attack.allCases.map { try $0.build(f).token }
        tokens += [f.rsa, f.p256, f.p384, f.ed25519, f.rsaRS256Only].map { TokenFactory.token(key: $0, claims: f.goodClaims()) }
        var headers = JOSEHeaderCache()
        for round in 0..<2 {
            for token in tokens {
                let shared = verifier.verify(token, keys: f.keys, now: Fixture.now, issuedNotBefore: nil, headers: &headers)
                #expect(shared == f.verify(token), "round \(round): \(token.prefix(60))")
            }
        }
        // Headers differing only in `kid` are two entries, each with its own key.
        let a = TokenFactory.token(key: f.rsa, claims: f.goodClaims())
        let b = TokenFactory.token(key: f.rsaRS256Only, alg: .rs256, claims: f.goodClaims())
        var fresh = JOSEHeaderCache()
        for token in [a, b, a, b] {
            guard case .verified = verifier.verify(token, keys: f.keys, now: Fixture.now, issuedNotBefore: nil, headers: &fresh) else {
                Issue.record("a cached header answered for another")
                continue
            }
        }
        #expect(fresh.count == 2)
    }

    /// At most 8 headers of at most 512 bytes: a stream of distinct headers replaces them
    /// in turn, and an oversized one is parsed every time, never kept.
    @Test func theHeaderCacheIsBounded() throws {
        let f = try Fixture.make()
        let verifier = TokenVerifier(policy: f.policy)
        var headers = JOSEHeaderCache()
        for i in 0..<20 {
            let token = TokenFactory.token(key: f.p256, header: ["x": .string("n\(i)")], claims: f.goodClaims())
            guard case .verified = verifier.verify(token, keys: f.keys, now: Fixture.now, issuedNotBefore: nil, headers: &headers) else {
                Issue.record("header \(i) rejected")
                continue
            }
            #expect(headers.count == min(i + 1, 8))
        }
        var big = JOSEHeaderCache()
        let long = TokenFactory.token(key: f.p256, header: ["x": .string(String(repeating: "y", count: 600))], claims: f.goodClaims())
        guard case .verified = verifier.verify(long, keys: f.keys, now: Fixture.now, issuedNotBefore: nil, headers: &big) else {
            Issue.record("long header rejected")
            return
        }
        #expect(big.count == 0)
    }

    @Test func skewEdgesAccepted() throws {
        let f = try Fixture.make()
        let now = Fixture.now
        for extra: [String: JSONValue] in [["exp": .number(now - 4)], ["nbf": .number(now + 5)], ["iat": .number(now + 5)]] {
            let token = TokenFactory.token(key: f.rsa, claims: f.goodClaims(extra: extra))
            guard case .verified = f.verify(token) else {
                Issue.record("rejected within skew: \(extra.keys.sorted())")
                continue
            }
        }
    }

    @Test func clientUATNewerThanIatIsExpired() throws {
        let f = try Fixture.make()
        let token = TokenFactory.token(key: f.ed25519, claims: f.goodClaims())
        let verifier = TokenVerifier(policy: f.policy)
        #expect(verifier.verify(token, keys: f.keys, now: Fixture.now, issuedNotBefore: Fixture.now + 1) == .rejected(.expired))
        guard case .verified = verifier.verify(token, keys: f.keys, now: Fixture.now, issuedNotBefore: Fixture.now - 1) else {
            Issue.record("older client_uat should pass")
            return
        }
    }

    @Test func keylessFallbackVerifiesAnyKid() throws {
        let f = try Fixture.make()
        let key = try VerificationKey(pem: f.p256.publicKeyPEM)
        let set = VerificationKeySet(keys: [key])
        let verifier = TokenVerifier(policy: f.policy)
        for token in [
            TokenFactory.token(key: f.p256, claims: f.goodClaims()),
            TokenFactory.token(key: f.p256, includeKid: false, claims: f.goodClaims()),
        ] {
            guard case .verified = verifier.verify(token, keys: set, now: Fixture.now) else {
                Issue.record("fallback key not used")
                continue
            }
        }
        #expect(verifier.verify(TokenFactory.token(key: f.p256, claims: f.goodClaims()), keys: .empty, now: Fixture.now)
            == .unknownKid(f.p256.kid))
    }

    /// Degenerate forms, each with a dot at an edge or too many: `malformed` from the form
    /// check alone, whatever the segments hold (no segment is decoded past it).
    @Test(arguments: ["", "x", ".", "..", "...", "a..", "..b", ".b.", "a.b", "a.b.", ".a.b", "a.b.c.", "a.b.c.d", "a..b.c"])
    func degenerateFormsAreMalformed(token: String) throws {
        #expect(try Fixture.make().verify(token) == .rejected(.malformed), "\(token)")
    }

    @Test func tokenShape() {
        #expect(TokenShape.looksLikeJWT("a.b.c"))
        #expect(TokenShape.looksLikeJWT(".."))
        #expect(!TokenShape.looksLikeJWT("a.b"))
        #expect(!TokenShape.looksLikeJWT("a.b.c.d"))
        #expect(!TokenShape.looksLikeJWT("sk_live_abc"))
        // Dots anywhere in long text, first and last bytes included: exactly two or not.
        let filler = String(repeating: "x", count: 700)
        for (first, second, third) in [(0, 1, 2), (0, 699, 350), (5, 350, 0), (698, 699, 697), (300, 301, 699)] {
            var bytes = Array(filler.utf8)
            bytes[first] = UInt8(ascii: ".")
            bytes[second] = UInt8(ascii: ".")
            let two = String(decoding: bytes, as: UTF8.self)
            #expect(TokenShape.looksLikeJWT(two), "\(first), \(second)")
            #expect(TokenShape.looksLikeJWT(two[...]), "\(first), \(second)")
            bytes[third] = UInt8(ascii: ".")
            #expect(!TokenShape.looksLikeJWT(String(decoding: bytes, as: UTF8.self)), "three: \(first), \(second)")
        }
        #expect(!TokenShape.looksLikeJWT(filler))
        #expect(!TokenShape.looksLikeJWT(""))
        #expect(!TokenShape.looksLikeJWT("."))
    }
}
