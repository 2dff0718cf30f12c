import GatehouseAuth
import NIOCore
import NIOHTTP1

/// The `/_api` gate (SPEC "The /_api gate"): credential → api key or JWT → policy.
/// Synchronous on the event loop; the only wait is the rare JWKS refetch for an unknown
/// `kid`, returned as ``Step/waitForKeys(_:_:)``. Fails closed: anything unexpected rejects.
@_spi(Benchmarks) public enum APIGate {
    public enum Step {
        /// Accepted; with the token for a user, and whether that user is due to be
        /// reported as seen (``VerifiedTokenCache/Hit/sightingDue``).
        case accept(GateIdentity, VerifiedToken?, sightingDue: Bool)
        case reject(GateRejection)
        /// Verify `credential` again with the keys the future yields (``afterRefetch``).
        case waitForKeys(EventLoopFuture<KeySnapshot>, Credential)
    }

    public static func evaluate(
        app: AppRuntime,
        headers: HTTPHeaders,
        cache: inout VerifiedTokenCache,
        now: Double,
        eventLoop: EventLoop
    ) -> Step {
        evaluate(app: app, headers: headers, authorization: AuthorizationField(headers), cache: &cache, now: now, eventLoop: eventLoop)
    }

    /// With the request's `Authorization` fields as the head's inspection found them
    /// (``RequestHeadValidator/Inspection/authorization``): not walked again here.
    public static func evaluate(
        app: AppRuntime,
        headers: HTTPHeaders,
        authorization: AuthorizationField,
        cache: inout VerifiedTokenCache,
        now: Double,
        eventLoop: EventLoop
    ) -> Step {
        let extraction: CredentialExtraction
        switch authorization {
        case .one(let value):
            // The common case, looked up in place: a cached token costs no copy of itself
            // and no array of the field's values.
            guard let token = CredentialExtractor.bearerCandidate(value) else { return .reject(.unauthenticated(.malformed)) }
            // Looked up before its characters are checked: the cache holds only verified
            // JWTs (base64url and dots), compared whole, so a hit is a well-formed token.
            if let hit = cache.lookup(token, now: now, clockSkew: app.clockSkew) {
                return admit(app: app, token: hit.verified, source: .authorizationHeader, clientUAT: nil, sightingDue: hit.sightingDue)
            }
            guard CredentialExtractor.isVisibleASCII(token) else { return .reject(.unauthenticated(.malformed)) }
            extraction = .credential(Credential(token: String(token), source: .authorizationHeader))
        case .several:
            return .reject(.unauthenticated(.malformed))
        case .none:
            extraction = CredentialExtractor.extract(authorizationValues: [], cookieHeaderValues: headers["cookie"])
        }
        switch extraction {
        case .none:
            if app.config.auth.mode == .none { return .accept(.anonymous, nil, sightingDue: false) }
            return .reject(.unauthenticated(.missingToken))
        case .malformedHeader:
            return .reject(.unauthenticated(.malformed))
        case .credential(let credential):
            // Only verified JWTs are cached: a hit needs no shape check (~1 KB scanned).
            if credential.source != .authorizationHeader, let hit = cache.lookup(credential.token, now: now, clockSkew: app.clockSkew) {
                return admit(app: app, token: hit.verified, credential: credential, sightingDue: hit.sightingDue)
            }
            if !TokenShape.looksLikeJWT(credential.token) {
                guard credential.source == .authorizationHeader, let service = app.apiKeys.lookup(credential.token) else {
                    return .reject(.unauthenticated(.unknownKey))
                }
                return .accept(GateIdentity(id: "service:" + service.name, kind: .service(admin: service.admin)), nil, sightingDue: false)
            }
            return verifyJWT(app: app, credential: credential, cache: &cache, now: now, refetch: eventLoop)
        }
    }

    /// Second pass after a JWKS refetch. A `kid` still unknown is asked about once more,
    /// so that a refetch that *failed* answers 503 `auth_unavailable` (SPEC: the token's
    /// `kid` is unknown and the last refetch failed) and one that succeeded 401
    /// `unknown_kid`; the 30 s limit keeps that from fetching again.
    static func afterRefetch(app: AppRuntime, credential: Credential, cache: inout VerifiedTokenCache, now: Double, eventLoop: EventLoop) -> Step {
        // Another request on this loop may have verified the token meanwhile.
        if let hit = cache.lookup(credential.token, now: now, clockSkew: app.clockSkew) {
            return admit(app: app, token: hit.verified, credential: credential, sightingDue: hit.sightingDue)
        }
        return verifyJWT(app: app, credential: credential, cache: &cache, now: now, refetch: eventLoop)
    }

    private static func verifyJWT(
        app: AppRuntime,
        credential: Credential,
        cache: inout VerifiedTokenCache,
        now: Double,
        refetch eventLoop: EventLoop?
    ) -> Step {
        guard let source = app.keySource else { return .reject(.unauthenticated(.unknownKid)) }
        let snapshot = source.currentKeys()
        switch app.verifier.verify(credential.token, keys: snapshot.keys, now: now, issuedNotBefore: nil, headers: &cache.headers) {
        case .verified(let token):
            cache.insert(credential.token, token, now: now, clockSkew: app.clockSkew)
            return admit(app: app, token: token, credential: credential, sightingDue: true)
        case .rejected(let reason):
            return .reject(.unauthenticated(reason))
        case .unknownKid:
            guard let eventLoop else {
                return snapshot.loaded ? .reject(.unauthenticated(.unknownKid)) : .reject(.authUnavailable(retryAfter: 5))
            }
            switch source.resolveUnknownKid(now: now, on: eventLoop) {
            case .rejectUnknownKid: return .reject(.unauthenticated(.unknownKid))
            case .unavailable(let retryAfter): return .reject(.authUnavailable(retryAfter: retryAfter))
            case .wait(let future): return .waitForKeys(future, credential)
            }
        }
    }

    /// Checks that depend on the request, not the token alone: Clerk's `__client_uat`
    /// (a cookie token older than the client's last sign-in change is stale) and `policy`.
    private static func admit(app: AppRuntime, token: VerifiedToken, credential: Credential, sightingDue: Bool) -> Step {
        admit(app: app, token: token, source: credential.source, clientUAT: credential.clientUAT, sightingDue: sightingDue)
    }

    private static func admit(app: AppRuntime, token: VerifiedToken, source: CredentialSource, clientUAT: Int64?, sightingDue: Bool) -> Step {
        if source == .sessionCookie, let uat = clientUAT, let iat = token.issuedAt, iat < Double(uat) {
            return .reject(.unauthenticated(.expired))
        }
        guard app.policy.isOpen || app.policy.allows(token) else { return .reject(.forbidden) }
        return .accept(GateIdentity(id: token.subject, kind: .user), token, sightingDue: sightingDue)
    }
}
