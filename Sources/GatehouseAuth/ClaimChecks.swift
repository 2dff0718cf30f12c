/// The value checks of step 7, each taking the time as a parameter (the jwt-kit habit), in the
/// SPEC's order: `expired`, `not_yet_valid`, `bad_issuer`, `bad_audience`, `unauthorized_party`.
enum ClaimChecks {
    static func check(
        claims: [String: JSONValue], exp: Double, nbf: Double?, iat: Double?,
        policy: TokenVerificationPolicy, now: Double, issuedNotBefore: Double?
    ) -> TokenRejectionReason? {
        if !notExpired(exp: exp, now: now, skew: policy.clockSkew) { return .expired }
        if let floor = issuedNotBefore {
            guard let iat, iat >= floor else { return .expired }
        }
        if !notBefore(nbf, now: now, skew: policy.clockSkew) || !notBefore(iat, now: now, skew: policy.clockSkew) {
            return .notYetValid
        }
        if let issuer = policy.issuer {
            guard claims["iss"]?.stringValue == issuer else { return .badIssuer }
        }
        if let audience = policy.audience, !audience.isEmpty {
            guard audienceMatches(claims["aud"], audience) else { return .badAudience }
        }
        if let parties = policy.authorizedParties, !parties.isEmpty {
            guard let azp = claims["azp"]?.stringValue, parties.contains(azp) else { return .unauthorizedParty }
        }
        if policy.rejectPendingSessions, claims["sts"]?.stringValue == "pending" { return .unauthorizedParty }
        return nil
    }

    /// `exp` (RFC 7519 §4.1.4): valid while `now < exp + skew`.
    static func notExpired(exp: Double, now: Double, skew: Double) -> Bool {
        now < exp + skew
    }

    /// `nbf`/`iat`: not in the future beyond the skew.
    static func notBefore(_ time: Double?, now: Double, skew: Double) -> Bool {
        guard let time else { return true }
        return time <= now + skew
    }

    /// `aud` (RFC 7519 §4.1.3): a string or an array of strings, compared exactly.
    static func audienceMatches(_ aud: JSONValue?, _ accepted: [String]) -> Bool {
        switch aud {
        case .string(let s):
            return accepted.contains(s)
        case .array(let list):
            return list.contains { if case .string(let s) = $0 { return accepted.contains(s) } else { return false } }
        default:
            return false
        }
    }
}
