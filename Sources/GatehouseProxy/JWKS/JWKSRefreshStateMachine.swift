/// When to fetch an app's JWKS, and what a request with an unknown `kid` gets meanwhile.
///
/// SPEC "The /_api gate", JWKS: fetched at start and retried every 5 s until a key was
/// ever loaded; refreshed in the background (default every 10 min, honouring
/// `Cache-Control: max-age`); an unknown `kid` triggers at most one refetch per 30 s and
/// the request that triggered it waits for it; when the endpoint fails, the last good
/// keys keep serving. A plain value: no I/O, no clock of its own (time is passed in as
/// seconds), so every rule is tested without a network.
public struct JWKSRefreshStateMachine: Sendable {
    /// What the owner of the machine must do now.
    public enum FetchAction: Sendable, Equatable {
        /// Start a fetch now.
        case fetch
        /// A fetch is already under way; wait for it.
        case join
        /// The key is unknown and the keys are fresh: 401 `unknown_kid`.
        case rejectUnknownKid
        /// 503 `auth_unavailable` with `Retry-After` (whole seconds, at least 1).
        case unavailable(retryAfter: Int)
    }

    public static let onDemandInterval: Double = 30
    public static let startupRetryInterval: Double = 5
    public static let defaultRefreshInterval: Double = 600
    public static let failedRefreshRetryInterval: Double = 30

    private(set) public var everLoaded = false
    private(set) public var fetchInFlight = false
    /// When the last fetch triggered by an unknown `kid` started.
    private var lastOnDemandFetchAt: Double?
    /// Whether that fetch (or a later one) failed and none has succeeded since.
    private var lastFetchFailed = false
    /// When the next background fetch is due.
    private(set) public var nextScheduledFetchAt: Double

    public init(now: Double) {
        self.nextScheduledFetchAt = now
    }

    /// A background timer fired (or the process started).
    public mutating func scheduledFetchDue(now: Double) -> FetchAction? {
        guard !fetchInFlight else { return nil }
        fetchInFlight = true
        return .fetch
    }

    /// A verified-looking token named a `kid` the current keys lack.
    public mutating func unknownKid(now: Double) -> FetchAction {
        if !everLoaded {
            if fetchInFlight { return .join }
            return .unavailable(retryAfter: Self.seconds(until: nextScheduledFetchAt, now: now))
        }
        if let last = lastOnDemandFetchAt, now - last < Self.onDemandInterval {
            if fetchInFlight { return .join }
            if lastFetchFailed {
                return .unavailable(retryAfter: Self.seconds(until: last + Self.onDemandInterval, now: now))
            }
            return .rejectUnknownKid
        }
        lastOnDemandFetchAt = now
        if fetchInFlight { return .join }
        fetchInFlight = true
        return .fetch
    }

    /// A fetch ended with usable keys; `maxAge` from `Cache-Control`, if any.
    public mutating func fetchSucceeded(now: Double, maxAge: Double?) {
        fetchInFlight = false
        everLoaded = true
        lastFetchFailed = false
        let interval = min(max(maxAge ?? Self.defaultRefreshInterval, Self.startupRetryInterval), 86_400)
        nextScheduledFetchAt = now + interval
    }

    /// A fetch failed (network, status, or a document with no usable key).
    public mutating func fetchFailed(now: Double) {
        fetchInFlight = false
        lastFetchFailed = true
        nextScheduledFetchAt = now + (everLoaded ? Self.failedRefreshRetryInterval : Self.startupRetryInterval)
    }

    /// `Retry-After` for a 503 while nothing was ever loaded.
    public func retryAfterWhileUnloaded(now: Double) -> Int {
        Self.seconds(until: nextScheduledFetchAt, now: now)
    }

    static func seconds(until t: Double, now: Double) -> Int {
        max(1, Int((t - now).rounded(.up)))
    }
}
