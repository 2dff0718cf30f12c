/// The fixed reasons a credential is refused (SPEC "The `/_api` gate"); the raw value is what the
/// 401 body's `reason` carries. Carries no token bytes, so it is always safe to log.
public enum TokenRejectionReason: String, Sendable, Error, Equatable, CaseIterable {
    case missingToken = "missing_token"
    case malformed
    case badSignature = "bad_signature"
    case unknownKid = "unknown_kid"
    case expired
    case notYetValid = "not_yet_valid"
    case badIssuer = "bad_issuer"
    case badAudience = "bad_audience"
    case unauthorizedParty = "unauthorized_party"
    case unsupportedAlg = "unsupported_alg"
    case unknownKey = "unknown_key"
}
