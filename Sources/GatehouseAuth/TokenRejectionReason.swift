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

extension TokenRejectionReason {
    /// The reason's position in ``allCases``, without searching it: tables indexed by
    /// reason on the request path (metrics cells, prebuilt 401s) read it per rejection.
    public var ordinal: Int {
        switch self {
        case .missingToken: 0
        case .malformed: 1
        case .badSignature: 2
        case .unknownKid: 3
        case .expired: 4
        case .notYetValid: 5
        case .badIssuer: 6
        case .badAudience: 7
        case .unauthorizedParty: 8
        case .unsupportedAlg: 9
        case .unknownKey: 10
        }
    }
}
