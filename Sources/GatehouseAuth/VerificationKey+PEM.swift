import Crypto
import _CryptoExtras

extension VerificationKey {
    /// Loads a public key from PEM: SPKI `PUBLIC KEY` (RSA, P-256, P-384, Ed25519) or PKCS#1
    /// `RSA PUBLIC KEY`. This is how `jwt_key` / `CLERK_JWT_KEY` become a key with no network.
    public init(pem: String, kid: String? = nil) throws(AuthKeyError) {
        guard let (label, der) = PEM.decode(pem) else { throw .invalidPEM }
        let material: Material
        switch label {
        case "RSA PUBLIC KEY":
            guard let key = try? _RSA.Signing.PublicKey(derRepresentation: der) else { throw .invalidKeyMaterial }
            material = .rsa(key)
        case "PUBLIC KEY":
            if let raw = PEM.fixedKey(der, prefix: PEM.ed25519SPKIPrefix) {
                guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
                    throw .invalidKeyMaterial
                }
                material = .ed25519(key)
            } else if let key = try? P256.Signing.PublicKey(derRepresentation: der) {
                material = .p256(key)
            } else if let key = try? P384.Signing.PublicKey(derRepresentation: der) {
                material = .p384(key)
            } else if let key = try? _RSA.Signing.PublicKey(derRepresentation: der) {
                material = .rsa(key)
            } else {
                throw .unsupportedKeyType
            }
        default:
            throw .unsupportedKeyType
        }
        try self.init(kid: kid, algorithm: nil, material: material)
    }

    /// The key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    public var pemRepresentation: String {
        switch material {
        case .rsa(let key): return key.pemRepresentation
        case .p256(let key): return key.pemRepresentation
        case .p384(let key): return key.pemRepresentation
        case .ed25519(let key):
            return PEM.encode(label: "PUBLIC KEY", der: PEM.ed25519SPKIPrefix + Array(key.rawRepresentation))
        }
    }
}
