import Crypto
import Foundation
import GatehouseAuth
import _CryptoExtras

/// The key types tests generate: one per family Gatehouse verifies.
public enum TestKeyKind: String, Sendable, CaseIterable {
    case rsa2048
    case p256
    case p384
    case ed25519

    /// The algorithm a key of this kind signs with by default.
    public var defaultAlgorithm: JWTAlgorithm {
        switch self {
        case .rsa2048: return .rs256
        case .p256: return .es256
        case .p384: return .es384
        case .ed25519: return .edDSA
        }
    }
}

/// A freshly generated key pair for tests, able to sign with any algorithm of its family (and to
/// produce deliberately wrong forms such as DER ECDSA signatures).
///
/// Tests use real keys generated at run time so nothing secret is committed; RSA generation is
/// slow, so ``shared(_:)`` keeps one key per kind for the whole test process.
public struct TestKey: Sendable {
    enum Private: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    public let kind: TestKeyKind
    public let kid: String
    let key: Private

    /// Generates a new key of `kind`.
    public static func generate(_ kind: TestKeyKind, kid: String? = nil) throws -> TestKey {
        let kid = kid ?? "\(kind.rawValue)-\(UInt32.random(in: 0...UInt32.max))"
        switch kind {
        case .rsa2048:
            return TestKey(kind: kind, kid: kid, key: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048)))
        case .p256: return TestKey(kind: kind, kid: kid, key: .p256(P256.Signing.PrivateKey()))
        case .p384: return TestKey(kind: kind, kid: kid, key: .p384(P384.Signing.PrivateKey()))
        case .ed25519: return TestKey(kind: kind, kid: kid, key: .ed25519(Curve25519.Signing.PrivateKey()))
        }
    }

    private static let sharedKeys: [TestKeyKind: TestKey] = {
        var keys: [TestKeyKind: TestKey] = [:]
        for kind in TestKeyKind.allCases { keys[kind] = try? generate(kind, kid: "shared-\(kind.rawValue)") }
        return keys
    }()

    /// One key per kind, generated once per process.
    public static func shared(_ kind: TestKeyKind) throws -> TestKey {
        if let key = sharedKeys[kind] { return key }
        return try generate(kind)
    }

    /// The same key under another `kid`.
    public func withKid(_ kid: String) -> TestKey { TestKey(kind: kind, kid: kid, key: key) }

    /// The private key as PKCS#8 PEM.
    public var pkcs8PEM: String {
        switch key {
        case .rsa(let k): return k.pkcs8PEMRepresentation
        case .p256(let k): return k.pemRepresentation
        case .p384(let k): return k.pemRepresentation
        case .ed25519(let k):
            let prefix: [UInt8] = [
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
            ]
            return Self.pem("PRIVATE KEY", prefix + Array(k.rawRepresentation))
        }
    }

    /// The public key as SPKI PEM (`BEGIN PUBLIC KEY`).
    public var publicKeyPEM: String {
        switch key {
        case .rsa(let k): return k.publicKey.pemRepresentation
        case .p256(let k): return k.publicKey.pemRepresentation
        case .p384(let k): return k.publicKey.pemRepresentation
        case .ed25519(let k):
            let prefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
            return Self.pem("PUBLIC KEY", prefix + Array(k.publicKey.rawRepresentation))
        }
    }

    /// An RSA public key as PKCS#1 PEM (`BEGIN RSA PUBLIC KEY`); `nil` for other kinds.
    public var rsaPKCS1PublicKeyPEM: String? {
        if case .rsa(let k) = key { return k.publicKey.pkcs1PEMRepresentation }
        return nil
    }

    /// The public JWK with `kid`; `alg` is included only when given, `extra` members are merged in.
    public func publicJWK(alg: JWTAlgorithm? = nil, extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
        var jwk: [String: JSONValue] = ["kid": .string(kid)]
        switch key {
        case .rsa(let k):
            jwk["kty"] = "RSA"
            if let p = try? k.publicKey.getKeyPrimitives() {
                jwk["n"] = .string(Base64URL.encode(p.modulus))
                jwk["e"] = .string(Base64URL.encode(p.publicExponent))
            }
        case .p256(let k):
            let raw = Array(k.publicKey.rawRepresentation)
            jwk["kty"] = "EC"
            jwk["crv"] = "P-256"
            jwk["x"] = .string(Base64URL.encode(raw[0..<32]))
            jwk["y"] = .string(Base64URL.encode(raw[32...]))
        case .p384(let k):
            let raw = Array(k.publicKey.rawRepresentation)
            jwk["kty"] = "EC"
            jwk["crv"] = "P-384"
            jwk["x"] = .string(Base64URL.encode(raw[0..<48]))
            jwk["y"] = .string(Base64URL.encode(raw[48...]))
        case .ed25519(let k):
            jwk["kty"] = "OKP"
            jwk["crv"] = "Ed25519"
            jwk["x"] = .string(Base64URL.encode(k.publicKey.rawRepresentation))
        }
        if let alg { jwk["alg"] = .string(alg.rawValue) }
        for (name, value) in extra { jwk[name] = value }
        return jwk
    }

    /// A ``TokenSigner`` for this key (through its PKCS#8 PEM, as `token mint` loads it).
    public var signer: TokenSigner? { try? TokenSigner(pkcs8PEM: pkcs8PEM, kid: kid) }

    /// The raw JWS signature of `data` with `alg` (any algorithm of the key's family; ECDSA as R‖S).
    /// Returns empty bytes when `alg` does not fit the key, so the token is simply invalid.
    public func signature(over data: [UInt8], alg: JWTAlgorithm? = nil) -> [UInt8] {
        let alg = alg ?? kind.defaultAlgorithm
        switch (key, alg) {
        case (.rsa(let k), .rs256):
            return (try? Array(k.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)) ?? []
        case (.rsa(let k), .rs384):
            return (try? Array(k.signature(for: SHA384.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)) ?? []
        case (.rsa(let k), .rs512):
            return (try? Array(k.signature(for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)) ?? []
        case (.rsa(let k), .ps256):
            return (try? Array(k.signature(for: SHA256.hash(data: data), padding: .PSS).rawRepresentation)) ?? []
        case (.p256(let k), _):
            return (try? Array(k.signature(for: SHA256.hash(data: data)).rawRepresentation)) ?? []
        case (.p384(let k), _):
            return (try? Array(k.signature(for: SHA384.hash(data: data)).rawRepresentation)) ?? []
        case (.ed25519(let k), _):
            return (try? Array(k.signature(for: data))) ?? []
        default:
            return []
        }
    }

    /// An ECDSA signature in DER form (which JWS forbids); `nil` for non-EC keys.
    public func derSignature(over data: [UInt8]) -> [UInt8]? {
        switch key {
        case .p256(let k): return (try? k.signature(for: SHA256.hash(data: data)).derRepresentation).map { Array($0) }
        case .p384(let k): return (try? k.signature(for: SHA384.hash(data: data)).derRepresentation).map { Array($0) }
        default: return nil
        }
    }

    private static func pem(_ label: String, _ der: [UInt8]) -> String {
        let b64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(b64)\n-----END \(label)-----\n"
    }
}

/// Builds JWKS documents and tokens for tests, including forged ones: raw header/payload text
/// (duplicate members, wrong types), arbitrary signature bytes and arbitrary segments.
public enum TokenFactory {
    /// A JWKS document `{"keys":[...]}` from JWK objects.
    public static func jwksJSON(_ jwks: [[String: JSONValue]]) -> [UInt8] {
        Array(StrictJSON.serialize(.object(["keys": .array(jwks.map { .object($0) })])).utf8)
    }

    /// A JWKS document whose `keys` holds arbitrary JSON values (to test that junk is skipped).
    public static func jwksJSON(entries: [JSONValue]) -> [UInt8] {
        Array(StrictJSON.serialize(.object(["keys": .array(entries)])).utf8)
    }

    /// A JWKS document from test keys' public JWKs (no `alg` members).
    public static func jwksJSON(keys: [TestKey]) -> [UInt8] {
        jwksJSON(keys.map { $0.publicJWK() })
    }

    /// A key set holding these test keys' public keys.
    public static func keySet(_ keys: [TestKey]) -> VerificationKeySet {
        (try? VerificationKeySet(jwksJSON: jwksJSON(keys: keys))) ?? .empty
    }

    /// Typical claims: `sub`, `iat` = now, `exp` = now + ttl, plus optional `iss`, `aud`, `azp`.
    public static func claims(
        sub: String = "user_123", now: Double, ttl: Double = 60, iss: String? = nil, aud: JSONValue? = nil,
        azp: String? = nil, extra: [String: JSONValue] = [:]
    ) -> [String: JSONValue] {
        var c: [String: JSONValue] = ["sub": .string(sub), "iat": .number(now.rounded(.down)), "exp": .number((now + ttl).rounded(.down))]
        if let iss { c["iss"] = .string(iss) }
        if let aud { c["aud"] = aud }
        if let azp { c["azp"] = .string(azp) }
        for (k, v) in extra { c[k] = v }
        return c
    }

    /// A token from exact segment texts, joined with dots (nothing encoded).
    public static func rawToken(headerSegment: String, payloadSegment: String, signatureSegment: String) -> String {
        headerSegment + "." + payloadSegment + "." + signatureSegment
    }

    /// A token from exact header and payload JSON texts and signature bytes, each base64url-encoded.
    public static func rawToken(headerJSON: String, payloadJSON: String, signature: [UInt8]) -> String {
        rawToken(
            headerSegment: Base64URL.encode(headerJSON.utf8), payloadSegment: Base64URL.encode(payloadJSON.utf8),
            signatureSegment: Base64URL.encode(signature))
    }

    /// A token from exact header and payload JSON texts, correctly signed by `key` with `alg`.
    public static func signedRawToken(key: TestKey, alg: JWTAlgorithm? = nil, headerJSON: String, payloadJSON: String) -> String {
        let input = Base64URL.encode(headerJSON.utf8) + "." + Base64URL.encode(payloadJSON.utf8)
        return input + "." + Base64URL.encode(key.signature(over: Array(input.utf8), alg: alg))
    }

    /// A correctly signed token. The header is `{"alg","typ":"JWT","kid"}` (the `kid` left out when
    /// `includeKid` is false) merged with `header`.
    public static func token(
        key: TestKey, alg: JWTAlgorithm? = nil, header: [String: JSONValue] = [:], includeKid: Bool = true,
        claims: [String: JSONValue]
    ) -> String {
        let alg = alg ?? key.kind.defaultAlgorithm
        var h: [String: JSONValue] = ["alg": .string(alg.rawValue), "typ": "JWT"]
        if includeKid { h["kid"] = .string(key.kid) }
        for (k, v) in header { h[k] = v }
        return signedRawToken(
            key: key, alg: alg, headerJSON: StrictJSON.serialize(.object(h)), payloadJSON: StrictJSON.serialize(.object(claims)))
    }

    /// A token whose header and payload are encoded from JSON values and whose signature is `signature`.
    public static func forgedToken(header: [String: JSONValue], claims: [String: JSONValue], signature: [UInt8]) -> String {
        rawToken(
            headerJSON: StrictJSON.serialize(.object(header)), payloadJSON: StrictJSON.serialize(.object(claims)),
            signature: signature)
    }

    /// An HMAC-SHA256-signed token (to prove HS256 is refused even when keyed with a public key).
    public static func hmacToken(secret: [UInt8], header: [String: JSONValue], claims: [String: JSONValue]) -> String {
        let input =
            Base64URL.encode(StrictJSON.serialize(.object(header)).utf8) + "."
            + Base64URL.encode(StrictJSON.serialize(.object(claims)).utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: SymmetricKey(data: secret))
        return input + "." + Base64URL.encode(Array(mac))
    }

    /// The `header.payload` signing input of a compact token.
    public static func signingInput(of token: String) -> [UInt8] {
        guard let last = token.lastIndex(of: ".") else { return [] }
        return Array(token[..<last].utf8)
    }
}
