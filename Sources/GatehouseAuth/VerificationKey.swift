import Foundation
import Crypto
import _CryptoExtras

/// The kind of public key a ``VerificationKey`` holds; each verifies only its own algorithms.
public enum VerificationKeyType: String, Sendable, Equatable, CaseIterable {
    case rsa = "RSA"
    case p256 = "P-256"
    case p384 = "P-384"
    case ed25519 = "Ed25519"
}

/// One trusted public key, from a JWKS entry or a PEM (`jwt_key`), with the algorithms it allows.
///
/// A key verifies only algorithms of its own type (RSA: RS256/RS384/RS512/PS256, P-256: ES256,
/// P-384: ES384, Ed25519: EdDSA) and, when its JWK named an `alg`, only that one (RFC 8725 §3.1).
/// Immutable and `Sendable`; verification is synchronous and safe on an event loop.
public struct VerificationKey: Sendable {
    enum Material: Sendable {
        case rsa(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    /// The JWK `kid`, or `nil` for a key without one (such as `jwt_key`).
    public let kid: String?
    /// The one algorithm this key is restricted to, when its JWK named one.
    public let algorithm: JWTAlgorithm?
    let material: Material

    init(kid: String?, algorithm: JWTAlgorithm?, material: Material) throws(AuthKeyError) {
        self.kid = kid
        self.algorithm = algorithm
        self.material = material
        if let algorithm, algorithm.keyType != self.keyType { throw .algorithmMismatch }
    }

    init(uncheckedKid kid: String?, material: Material) {
        self.kid = kid
        self.algorithm = nil
        self.material = material
    }

    /// The key's type.
    public var keyType: VerificationKeyType {
        switch material {
        case .rsa: return .rsa
        case .p256: return .p256
        case .p384: return .p384
        case .ed25519: return .ed25519
        }
    }

    /// Whether a token with this `alg` may be checked with this key.
    public func allows(_ alg: JWTAlgorithm) -> Bool {
        if let algorithm { return algorithm == alg }
        return alg.keyType == keyType
    }

    /// This key under another `kid` (for example to name a PEM key), same restrictions.
    public func withKid(_ kid: String?) -> VerificationKey {
        VerificationKey(unchecked: kid, algorithm: algorithm, material: material)
    }

    private init(unchecked kid: String?, algorithm: JWTAlgorithm?, material: Material) {
        self.kid = kid
        self.algorithm = algorithm
        self.material = material
    }

    /// Checks a JWS signature over `signingInput` (the exact ASCII `header.payload` bytes).
    ///
    /// Returns `false` when the key does not allow `alg`, and for an ECDSA signature that is not
    /// the raw `R‖S` form of exactly the curve's length (RFC 7518 §3.4), so DER never verifies.
    public func isValidSignature(_ sig: [UInt8], for signingInput: some DataProtocol, alg: JWTAlgorithm) -> Bool {
        guard allows(alg) else { return false }
        switch material {
        case .rsa(let key):
            let signature = _RSA.Signing.RSASignature(rawRepresentation: sig)
            switch alg {
            case .rs256:
                return key.isValidSignature(signature, for: SHA256.hash(data: signingInput), padding: .insecurePKCS1v1_5)
            case .rs384:
                return key.isValidSignature(signature, for: SHA384.hash(data: signingInput), padding: .insecurePKCS1v1_5)
            case .rs512:
                return key.isValidSignature(signature, for: SHA512.hash(data: signingInput), padding: .insecurePKCS1v1_5)
            case .ps256:
                return key.isValidSignature(signature, for: SHA256.hash(data: signingInput), padding: .PSS)
            case .es256, .es384, .edDSA:
                return false
            }
        case .p256(let key):
            guard alg == .es256, sig.count == 64,
                let signature = try? P256.Signing.ECDSASignature(rawRepresentation: sig)
            else { return false }
            return key.isValidSignature(signature, for: SHA256.hash(data: signingInput))
        case .p384(let key):
            guard alg == .es384, sig.count == 96,
                let signature = try? P384.Signing.ECDSASignature(rawRepresentation: sig)
            else { return false }
            return key.isValidSignature(signature, for: SHA384.hash(data: signingInput))
        case .ed25519(let key):
            guard alg == .edDSA, sig.count == 64 else { return false }
            return key.isValidSignature(sig, for: signingInput)
        }
    }
}
