import GatehouseAuth

/// Who a request that passed the gate acts as.
public struct GateIdentity: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case user
        case service(admin: Bool)
        case anonymous
    }
    /// `sub`, `service:<name>` or `anonymous`; sent as `X-Gatehouse-User`.
    public let id: String
    public let kind: Kind

    public init(id: String, kind: Kind) {
        self.id = id
        self.kind = kind
    }

    public static let anonymous = GateIdentity(id: "anonymous", kind: .anonymous)
}

/// Why the gate said no; ``LocalResponse`` turns each into SPEC's status and body.
public enum GateRejection: Sendable, Equatable {
    /// 401, reason `missing_token` or one of the invalid-credential reasons.
    case unauthenticated(TokenRejectionReason)
    /// 403: `policy` denied the user.
    case forbidden
    /// 503: keys could not be loaded; `Retry-After` seconds.
    case authUnavailable(retryAfter: Int)
    /// 429: a quota is spent; `Retry-After` seconds.
    case rateLimited(retryAfter: Int)
}
