/// What a verified token's claims must say for one app: issuer, audience, authorized parties,
/// clock skew and Clerk's pending-session rule.
///
/// A `nil` (or empty) list means "not checked", matching a config field that is not set.
public struct TokenVerificationPolicy: Sendable, Equatable {
    /// `iss` must equal this exactly (no case folding, no trailing-slash tolerance) when set.
    public var issuer: String?
    /// `aud` (a string or an array of strings) must contain one of these when set.
    public var audience: [String]?
    /// `azp` must be present and one of these when set (Clerk's `authorized_parties`).
    public var authorizedParties: [String]?
    /// Seconds of tolerance for `exp`, `nbf` and `iat` (`clock_skew_s`).
    public var clockSkew: Double
    /// Refuse tokens with `sts: "pending"` as `unauthorized_party` (Clerk mode).
    public var rejectPendingSessions: Bool

    public init(
        issuer: String? = nil,
        audience: [String]? = nil,
        authorizedParties: [String]? = nil,
        clockSkew: Double = 5,
        rejectPendingSessions: Bool = false
    ) {
        self.issuer = issuer
        self.audience = audience
        self.authorizedParties = authorizedParties
        self.clockSkew = clockSkew
        self.rejectPendingSessions = rejectPendingSessions
    }

    /// Dev mode: tokens from Gatehouse's own issuer for this app (`iss: "gatehouse-dev"`,
    /// `aud` = the app id); configured issuer/audience/parties are ignored.
    public static func dev(appID: String, clockSkew: Double = 5) -> TokenVerificationPolicy {
        TokenVerificationPolicy(issuer: devIssuer, audience: [appID], clockSkew: clockSkew)
    }

    /// The `iss` of dev-mode tokens.
    public static let devIssuer = "gatehouse-dev"
}
