/// Why a key (PEM, JWK, JWKS or private key) could not be loaded or used.
///
/// One error type for key material, a struct over a private enum so reasons can grow. Its
/// description names the problem only: never the key, a token, or any of their bytes.
public struct AuthKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Base: Sendable, Equatable {
        case invalidPEM
        case unsupportedKeyType
        case invalidKeyMaterial
        case missingMember(String)
        case notForSignatures
        case algorithmMismatch
        case notAJWKS
        case signingFailed
    }

    private let base: Base

    private init(_ base: Base) { self.base = base }

    /// The PEM armour or its base64 body is not valid.
    public static let invalidPEM = Self(.invalidPEM)
    /// A key type, curve or algorithm Gatehouse does not verify with.
    public static let unsupportedKeyType = Self(.unsupportedKeyType)
    /// The key bytes do not form a valid key of the stated type (or an RSA key under 2048 bits).
    public static let invalidKeyMaterial = Self(.invalidKeyMaterial)
    /// A JWK lacks a required member, or it has the wrong JSON type.
    public static func missingMember(_ name: String) -> Self { Self(.missingMember(name)) }
    /// The JWK is marked for something other than verifying signatures (`use`, `key_ops`).
    public static let notForSignatures = Self(.notForSignatures)
    /// The JWK's `alg` does not fit its key type.
    public static let algorithmMismatch = Self(.algorithmMismatch)
    /// The document is not a JWKS (`{"keys":[...]}`).
    public static let notAJWKS = Self(.notAJWKS)
    /// The signing primitive failed.
    public static let signingFailed = Self(.signingFailed)

    public var description: String {
        switch base {
        case .invalidPEM: return "key: invalid PEM"
        case .unsupportedKeyType: return "key: unsupported key type or algorithm"
        case .invalidKeyMaterial: return "key: invalid key material"
        case .missingMember(let name): return "key: JWK member \"\(name)\" missing or of the wrong type"
        case .notForSignatures: return "key: JWK is not usable for signature verification"
        case .algorithmMismatch: return "key: JWK alg does not match its key type"
        case .notAJWKS: return "key: document is not a JWKS"
        case .signingFailed: return "key: signing failed"
        }
    }
}
