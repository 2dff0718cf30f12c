/// The JWS `alg` values Gatehouse verifies (SPEC "The `/_api` gate"): asymmetric only.
///
/// HMAC (`HS*`) and `none` are deliberately absent, so a token naming them can never reach a key:
/// that is what stops the classic "HS256 signed with the public key" confusion (RFC 8725 §2.1).
public enum JWTAlgorithm: String, Sendable, CaseIterable {
    case rs256 = "RS256"
    case rs384 = "RS384"
    case rs512 = "RS512"
    case ps256 = "PS256"
    case es256 = "ES256"
    case es384 = "ES384"
    case edDSA = "EdDSA"

    /// The family of key this algorithm needs.
    public var keyType: VerificationKeyType {
        switch self {
        case .rs256, .rs384, .rs512, .ps256: return .rsa
        case .es256: return .p256
        case .es384: return .p384
        case .edDSA: return .ed25519
        }
    }
}
