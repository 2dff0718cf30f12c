import GatehouseAuth
import GatehouseCore
import GatehouseUsers
import NIOCore
import NIOHTTP1

/// What an endpoint that answers later (``LocalEndpoints/Match/asyncAnswer(_:)``) gets:
/// the request and the loop it arrived on. Built and used on that loop only.
struct LocalEndpointContext {
    let head: HTTPRequestHead
    let target: RequestTarget
    let loop: LoopContext
    let eventLoop: EventLoop
    let now: Double
}

/// An answer that may need I/O first (the user store, a JWKS refetch). `run` is called
/// once, on the connection's loop; a `.later` future may complete on any loop (the handler
/// hops back).
struct LocalEndpointTask {
    let run: (LocalEndpointContext) -> LocalAnswer
}

/// A value known at once, or once some I/O completes. What a ``LocalEndpointTask`` answers
/// (``LocalAnswer``) and what its admission decides: at once when nothing is pending (a
/// cached token of a known user: `/_auth/me` on every page load after the first, answered
/// without futures, their allocations and the read hold).
enum NowOrLater<Value: Sendable> {
    case now(Value)
    case later(EventLoopFuture<Value>)

    /// As a future either way (for a caller that chains on it).
    func future(on eventLoop: EventLoop) -> EventLoopFuture<Value> {
        switch self {
        case .now(let value): return eventLoop.makeSucceededFuture(value)
        case .later(let future): return future
        }
    }
}

typealias LocalAnswer = NowOrLater<LocalResponse>

/// `GET /_auth/me` and `GET /_auth/users` (SPEC "Auth endpoints and the SDK").
///
/// Both verify credentials exactly as the `/_api` gate does (``APIGate``, the app's key
/// source, this loop's verified-token cache), then answer from the user directory; the
/// store is read on its own thread pool, never on the event loop.
enum UserEndpoints {
    static let defaultLimit = 50
    static let maxLimit = 1000

    static func match(_ path: String, method: HTTPMethod, app: AppRuntime) -> LocalEndpoints.Match? {
        switch path {
        case "/_auth/me":
            guard method == .GET else { return .answer(.methodNotAllowed(allow: "GET")) }
            return .asyncAnswer(LocalEndpointTask { me($0, app: app) })
        case "/_auth/users":
            guard method == .GET else { return .answer(.methodNotAllowed(allow: "GET")) }
            return .asyncAnswer(LocalEndpointTask { users($0, app: app) })
        default:
            return nil
        }
    }

    // MARK: - Answers

    /// 401 without `reason`, `WWW-Authenticate: Bearer realm="gatehouse"` (SPEC: `/_auth/me`).
    static let unauthenticated = LocalResponse.json(
        .unauthorized, #"{"error":"unauthenticated"}"#, extraHeaders: [("WWW-Authenticate", #"Bearer realm="gatehouse""#)]
    )

    static func badRequest(_ reason: String) -> LocalResponse {
        .json(.badRequest, #"{"error":"bad_request","reason":"\#(reason)"}"#)
    }

    static let storeUnavailable = LocalResponse.json(.serviceUnavailable, #"{"error":"users_unavailable"}"#, extraHeaders: [("Retry-After", "1")])

    /// `/_auth/me`: the signed-in end user's profile. Api keys are services, not users:
    /// 401, and never recorded. A user `policy` turns away gets the gate's 403.
    static func me(_ context: LocalEndpointContext, app: AppRuntime) -> LocalAnswer {
        let eventLoop = context.eventLoop
        let now = context.now
        switch admit(context, app: app) {
        case .now(let admission):
            return me(admission, app: app, now: now, eventLoop: eventLoop)
        case .later(let admission):
            return .later(admission.flatMap { me($0, app: app, now: now, eventLoop: eventLoop).future(on: eventLoop) })
        }
    }

    private static func me(_ admission: Admission, app: AppRuntime, now: Double, eventLoop: EventLoop) -> LocalAnswer {
        switch admission {
        case .user(let token):
            guard let users = app.users else {
                return .now(.json(.ok, UserJSON.publicObject(id: token.subject, profile: AppUsers.profile(of: token))))
            }
            switch users.resolve(token, now: now, on: eventLoop) {
            case .known(let profile):
                return .now(.json(.ok, UserJSON.publicObject(id: token.subject, profile: profile)))
            case .awaitingLookup(let profile):
                return .later(profile.map { .json(.ok, UserJSON.publicObject(id: token.subject, profile: $0)) })
            }
        case .rejected(.forbidden):
            return .now(.gate(.forbidden))
        case .rejected(.authUnavailable(let retryAfter)):
            return .now(.gate(.authUnavailable(retryAfter: retryAfter)))
        case .service, .anonymous, .rejected:
            return .now(unauthenticated)
        }
    }

    /// `/_auth/users`: the app's users, paged by id. Only the owner key or an `admin`
    /// api key; a signed-in end user or another api key gets 403, no credential 401.
    static func users(_ context: LocalEndpointContext, app: AppRuntime) -> LocalAnswer {
        let eventLoop = context.eventLoop
        let query = context.target.query
        return .later(authorizeListing(context, app: app).flatMap { decision -> EventLoopFuture<LocalResponse> in
            switch decision {
            case .unauthenticated: return eventLoop.makeSucceededFuture(unauthenticated)
            case .forbidden: return eventLoop.makeSucceededFuture(.gate(.forbidden))
            case .unavailable(let retryAfter): return eventLoop.makeSucceededFuture(.gate(.authUnavailable(retryAfter: retryAfter)))
            case .allowed: break
            }
            let paging: Paging
            switch Paging.parse(query) {
            case .success(let p): paging = p
            case .failure(let error): return eventLoop.makeSucceededFuture(badRequest(error.reason))
            }
            guard let users = app.users else { return eventLoop.makeSucceededFuture(storeUnavailable) }
            return users.page(after: paging.cursor, limit: paging.limit + 1, on: eventLoop).map { records -> LocalResponse in
                let more = records.count > paging.limit
                let page = more ? Array(records.prefix(paging.limit)) : records
                var headers: [(String, String)] = []
                if more, let last = page.last {
                    let next = "/_auth/users?limit=\(paging.limit)&cursor=\(UserCursor(lastID: last.id).encoded)"
                    headers.append(("Link", "<\(next)>; rel=\"next\""))
                }
                return .json(.ok, UserJSON.publicArray(page), extraHeaders: headers)
            }.recover { _ in storeUnavailable }
        })
    }

    // MARK: - Who is asking

    /// What the gate made of the request's credential.
    enum Admission: Sendable {
        case user(VerifiedToken)
        case service(admin: Bool)
        case anonymous
        case rejected(GateRejection)
    }

    /// Runs the `/_api` gate's checks: decided now (the token cached or verified on the
    /// spot), or after the JWKS refetch an unknown `kid` asked for, as the gate waits.
    static func admit(_ context: LocalEndpointContext, app: AppRuntime) -> NowOrLater<Admission> {
        let loop = context.loop
        let eventLoop = context.eventLoop
        let now = context.now
        let step = loop.withTokenCache(for: app) { APIGate.evaluate(app: app, headers: context.head.headers, cache: &$0, now: now, eventLoop: eventLoop) }
        guard case .waitForKeys(let keys, let credential) = step else {
            return .now(admission(step))
        }
        return .later(keys.hop(to: eventLoop).assumeIsolated().map { _ in
            admission(loop.withTokenCache(for: app) { APIGate.afterRefetch(app: app, credential: credential, cache: &$0, now: now, eventLoop: eventLoop) })
        }.nonisolated().recover { _ in .rejected(.authUnavailable(retryAfter: 1)) })
    }

    private static func admission(_ step: APIGate.Step) -> Admission {
        switch step {
        case .accept(let identity, let token, _):
            switch identity.kind {
            case .user:
                guard let token else { return .rejected(.unauthenticated(.malformed)) }
                return .user(token)
            case .service(let admin): return .service(admin: admin)
            case .anonymous: return .anonymous
            }
        case .reject(let rejection):
            return .rejected(rejection)
        case .waitForKeys:
            return .rejected(.authUnavailable(retryAfter: 1))
        }
    }

    enum ListingDecision: Sendable {
        case allowed
        case unauthenticated
        case forbidden
        case unavailable(retryAfter: Int)
    }

    /// The owner key (compared by hash in constant time), else the gate: an `admin` api
    /// key may list users; any other valid credential is forbidden.
    static func authorizeListing(_ context: LocalEndpointContext, app: AppRuntime) -> EventLoopFuture<ListingDecision> {
        let extraction = CredentialExtractor.extract(
            authorizationValues: context.head.headers["authorization"], cookieHeaderValues: context.head.headers["cookie"]
        )
        if case .credential(let credential) = extraction, credential.source == .authorizationHeader,
           app.ownerKeyTable.lookup(credential.token) != nil {
            return context.eventLoop.makeSucceededFuture(.allowed)
        }
        return admit(context, app: app).future(on: context.eventLoop).map(listing)
    }

    private static func listing(_ admission: Admission) -> ListingDecision {
        switch admission {
        case .service(admin: true): return .allowed
        case .service(admin: false), .user, .rejected(.forbidden): return .forbidden
        case .rejected(.authUnavailable(let retryAfter)): return .unavailable(retryAfter: retryAfter)
        case .anonymous, .rejected: return .unauthenticated
        }
    }

    // MARK: - Paging

    struct PagingError: Error {
        let reason: String
    }

    /// `?limit=` (1…1000, default 50) and `?cursor=`; anything else in the query is ignored.
    struct Paging: Equatable {
        var limit = UserEndpoints.defaultLimit
        var cursor: UserCursor?

        static func parse(_ query: Substring?) -> Result<Paging, PagingError> {
            var paging = Paging()
            var sawLimit = false
            var sawCursor = false
            for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = parts[0]
                let value = parts.count > 1 ? parts[1] : ""
                switch name {
                case "limit":
                    guard !sawLimit, !value.isEmpty, value.utf8.count <= 4, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                          let limit = Int(value), limit >= 1, limit <= UserEndpoints.maxLimit else {
                        return .failure(PagingError(reason: "limit must be an integer from 1 to \(UserEndpoints.maxLimit)"))
                    }
                    sawLimit = true
                    paging.limit = limit
                case "cursor":
                    guard !sawCursor, let cursor = UserCursor(encoded: value) else {
                        return .failure(PagingError(reason: "bad cursor"))
                    }
                    sawCursor = true
                    paging.cursor = cursor
                default:
                    continue
                }
            }
            return .success(paging)
        }
    }
}
