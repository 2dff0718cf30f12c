/// The identity a verified JWT carries: `sub` plus the profile claims the gate and
/// `/_auth/me` use. Immutable, so it can be cached until ``expiresAt`` and shared across loops.
///
/// An object rather than a struct: a cached token is handed out on every `/_api` request
/// (the cache's hit, the gate's decision, the user directory's sighting), and as a value
/// each copy retained its five references (`sub`, three optional profile strings, the
/// claims) and each end released them — ten atomic reference counts per copy where one
/// object costs two (`Benchmarks/README.md`, twenty-eighth round).
public final class VerifiedToken: Sendable, Equatable {
    /// `sub`: the user id Gatehouse forwards and meters.
    public let subject: String
    /// `exp`, seconds since 1970.
    public let expiresAt: Double
    /// `iat`, seconds since 1970, when present.
    public let issuedAt: Double?
    /// `email`, when present.
    public let email: String?
    /// `name`, else `given_name` and `family_name` joined by a space.
    public let name: String?
    /// `picture`, else Clerk's `image_url`.
    public let picture: String?
    /// Every claim of the payload, for policy checks (`require_claims`).
    public let claims: [String: JSONValue]

    public init(
        subject: String, expiresAt: Double, issuedAt: Double?, email: String?, name: String?, picture: String?,
        claims: [String: JSONValue]
    ) {
        self.subject = subject
        self.expiresAt = expiresAt
        self.issuedAt = issuedAt
        self.email = email
        self.name = name
        self.picture = picture
        self.claims = claims
    }

    /// Builds the identity from claims already checked by ``TokenVerifier``.
    convenience init(subject: String, expiresAt: Double, issuedAt: Double?, claims: [String: JSONValue]) {
        let email = claims["email"]?.stringValue
        var name = claims["name"]?.stringValue
        if name == nil {
            // Joined directly, not through an array of the parts (`compactMap`, `filter`,
            // `joined`): an empty part is skipped, one part alone is the name.
            let given = claims["given_name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            let family = claims["family_name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            switch (given, family) {
            case let (given?, family?): name = given + " " + family
            case let (given?, nil): name = given
            case let (nil, family?): name = family
            case (nil, nil): break
            }
        }
        let picture = claims["picture"]?.stringValue ?? claims["image_url"]?.stringValue
        self.init(
            subject: subject, expiresAt: expiresAt, issuedAt: issuedAt, email: email, name: name, picture: picture,
            claims: claims)
    }

    /// Equal when every field is, as the struct it was compared.
    public static func == (a: VerifiedToken, b: VerifiedToken) -> Bool {
        a === b
            || (a.subject == b.subject && a.expiresAt == b.expiresAt && a.issuedAt == b.issuedAt && a.email == b.email
                && a.name == b.name && a.picture == b.picture && a.claims == b.claims)
    }
}

/// What ``TokenVerifier/verify(_:keys:now:)`` concluded.
///
/// `unknownKid` is separate from `rejected(.unknownKid)` so the caller can refetch the JWKS (at
/// most once per 30 s) and try again, or answer 503 when the refetch failed.
public enum TokenVerificationOutcome: Sendable, Equatable {
    case verified(VerifiedToken)
    case rejected(TokenRejectionReason)
    /// No key for this `kid` (or no `kid` and no keyless fallback); carries the token's `kid`.
    case unknownKid(String?)

    /// The rejection reason, mapping `unknownKid` to `unknown_kid`; `nil` when verified.
    public var rejectionReason: TokenRejectionReason? {
        switch self {
        case .verified: return nil
        case .rejected(let r): return r
        case .unknownKid: return .unknownKid
        }
    }
}
