import Crypto
import _CryptoExtras

/// Signs JWTs for dev mode (`auth.mode: dev`) and `gatehouse token mint`.
///
/// Takes a PKCS#8 PEM private key and picks the algorithm from its type: RSA → RS256,
/// EC P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA. ECDSA signatures are emitted in the JWS
/// raw `R‖S` form (RFC 7518 §3.4). Synchronous; signing RSA is slow enough to keep off the loop
/// when done per request.
public struct TokenSigner: Sendable {
    enum Material: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }

    let material: Material
    /// The `kid` put in every header, when set.
    public var kid: String?

    init(material: Material, kid: String?) {
        self.material = material
        self.kid = kid
    }

    /// Loads a private key from PEM (`PRIVATE KEY` PKCS#8; `EC PRIVATE KEY` and
    /// `RSA PRIVATE KEY` are also read), detecting its type.
    public init(pkcs8PEM: String, kid: String?) throws(AuthKeyError) {
        guard let (label, der) = PEM.decode(pkcs8PEM) else { throw .invalidPEM }
        if label == "PRIVATE KEY", let seed = PEM.fixedKey(der, prefix: PEM.ed25519PKCS8Prefix) {
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
                throw .invalidKeyMaterial
            }
            self.init(material: .ed25519(key), kid: kid)
        } else if let key = try? P256.Signing.PrivateKey(pemRepresentation: pkcs8PEM) {
            self.init(material: .p256(key), kid: kid)
        } else if let key = try? P384.Signing.PrivateKey(pemRepresentation: pkcs8PEM) {
            self.init(material: .p384(key), kid: kid)
        } else if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pkcs8PEM) {
            self.init(material: .rsa(key), kid: kid)
        } else {
            throw .unsupportedKeyType
        }
    }

    /// A fresh Ed25519 key (dev mode without `dev_key_file`).
    public static func generateEd25519(kid: String) -> TokenSigner {
        TokenSigner(material: .ed25519(Curve25519.Signing.PrivateKey()), kid: kid)
    }

    /// A fresh P-256 key.
    public static func generateP256(kid: String?) -> TokenSigner {
        TokenSigner(material: .p256(P256.Signing.PrivateKey()), kid: kid)
    }

    /// A fresh P-384 key.
    public static func generateP384(kid: String?) -> TokenSigner {
        TokenSigner(material: .p384(P384.Signing.PrivateKey()), kid: kid)
    }

    /// A fresh RSA key of `bits` (at least 2048).
    public static func generateRSA(bits: Int = 2048, kid: String?) throws(AuthKeyError) -> TokenSigner {
        guard let key = try? _RSA.Signing.PrivateKey(keySize: .init(bitCount: bits)) else { throw .invalidKeyMaterial }
        return TokenSigner(material: .rsa(key), kid: kid)
    }

    /// The algorithm this key signs with.
    public var algorithm: JWTAlgorithm {
        switch material {
        case .rsa: return .rs256
        case .p256: return .es256
        case .p384: return .es384
        case .ed25519: return .edDSA
        }
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), e.g. to persist a dev key.
    public var pkcs8PEM: String {
        switch material {
        case .rsa(let key): return key.pkcs8PEMRepresentation
        case .p256(let key): return key.pemRepresentation
        case .p384(let key): return key.pemRepresentation
        case .ed25519(let key):
            return PEM.encode(label: "PRIVATE KEY", der: PEM.ed25519PKCS8Prefix + Array(key.rawRepresentation))
        }
    }

    /// The matching public key, restricted to ``algorithm``.
    public var verificationKey: VerificationKey {
        let material: VerificationKey.Material
        switch self.material {
        case .rsa(let key): material = .rsa(key.publicKey)
        case .p256(let key): material = .p256(key.publicKey)
        case .p384(let key): material = .p384(key.publicKey)
        case .ed25519(let key): material = .ed25519(key.publicKey)
        }
        // The algorithm always matches the material's type, so this cannot fail; fall back to an
        // unrestricted key rather than trap.
        return (try? VerificationKey(kid: kid, algorithm: algorithm, material: material))
            ?? VerificationKey.unrestricted(kid: kid, material: material)
    }

    /// The public JWK: `kty`/key members, `kid` (when set), `use: "sig"`, `alg`.
    public func publicJWK() -> [String: JSONValue] {
        verificationKey.jwk
    }

    /// A compact JWS over `claims`, header `{"alg","typ":"JWT","kid"?}`.
    public func sign(claims: [String: JSONValue]) throws(AuthKeyError) -> String {
        var header: [String: JSONValue] = ["alg": .string(algorithm.rawValue), "typ": "JWT"]
        if let kid { header["kid"] = .string(kid) }
        let signingInput =
            Base64URL.encode(StrictJSON.serialize(.object(header)).utf8) + "."
            + Base64URL.encode(StrictJSON.serialize(.object(claims)).utf8)
        let signature = try sign(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// The raw JWS signature of `data` with ``algorithm``.
    public func sign(_ data: [UInt8]) throws(AuthKeyError) -> [UInt8] {
        do {
            switch material {
            case .rsa(let key):
                return Array(try key.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
            case .p256(let key):
                return Array(try key.signature(for: SHA256.hash(data: data)).rawRepresentation)
            case .p384(let key):
                return Array(try key.signature(for: SHA384.hash(data: data)).rawRepresentation)
            case .ed25519(let key):
                return Array(try key.signature(for: data))
            }
        } catch {
            throw .signingFailed
        }
    }
}

extension VerificationKey {
    static func unrestricted(kid: String?, material: Material) -> VerificationKey {
        VerificationKey(uncheckedKid: kid, material: material)
    }
}
