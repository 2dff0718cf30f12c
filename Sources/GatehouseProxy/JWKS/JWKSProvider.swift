import Atomics
import GatehouseAuth
import GatehouseCore
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Keeps one app's JWKS fresh: fetches at start, refreshes in the background, refetches
/// (at most once per 30 s) for an unknown `kid`, and keeps the last good keys through
/// an outage. The rules live in ``JWKSRefreshStateMachine``; this class only does the I/O.
///
/// Threading: fetches and timers run on `eventLoop` (one loop of the group, chosen at
/// start). Requests read ``currentKeys()`` through an atomic, never a lock; the lock
/// guards the state machine, which only the rare unknown-`kid` path and the fetch
/// completions touch.
public final class JWKSProvider: KeySource {
    private struct State {
        var machine: JWKSRefreshStateMachine
        var waiters: [EventLoopPromise<KeySnapshot>] = []
        var timer: Scheduled<Void>?
        var stopped = false
    }

    private let endpoint: UpstreamEndpoint
    private let path: String
    private let eventLoop: EventLoop
    private let fetcher: HTTPFetcher
    private let clock: @Sendable () -> Double
    private let snapshot = ManagedAtomic<KeySnapshot>(.unloaded)
    private let state: NIOLockedValueBox<State>
    private let logger: Logger
    private let appID: String

    /// - Parameter fetchTimeout: bound on one fetch; a request that waits for a refetch
    ///   waits at most this long (SPEC: `upstream_connect_timeout_ms`).
    public init(
        appID: String,
        jwksURL: String,
        caFile: String? = nil,
        eventLoop: EventLoop,
        fetchTimeout: TimeAmount,
        clock: @escaping @Sendable () -> Double,
        logger: Logger
    ) throws {
        guard let url = UpstreamURL(parsing: jwksURL), url.scheme != .unix else {
            throw JWKSProviderError(description: "jwks_url is not an http(s) URL")
        }
        // The whole URL path is the document path; the endpoint carries no base path.
        var base = url
        base.basePath = ""
        self.endpoint = try UpstreamEndpoint(url: base, caFile: caFile)
        self.path = url.basePath.isEmpty ? "/" : url.basePath + Self.query(of: jwksURL)
        self.eventLoop = eventLoop
        self.fetcher = HTTPFetcher(maxBodyBytes: 1 << 20, timeout: fetchTimeout)
        self.clock = clock
        self.state = NIOLockedValueBox(State(machine: JWKSRefreshStateMachine(now: clock())))
        self.logger = logger
        self.appID = appID
    }

    private static func query(of url: String) -> String {
        guard let q = url.firstIndex(of: "?") else { return "" }
        return String(url[q...])
    }

    /// Starts the first fetch (off the calling thread, on the provider's loop).
    public func start() {
        let now = clock()
        let action = state.withLockedValue { $0.machine.scheduledFetchDue(now: now) }
        if action == .fetch { fetch() }
    }

    /// Cancels the timer; an in-flight fetch completes but schedules nothing.
    public func stop() {
        let timer = state.withLockedValue { s -> Scheduled<Void>? in
            s.stopped = true
            defer { s.timer = nil }
            return s.timer
        }
        timer?.cancel()
    }

    /// Whether keys were ever loaded (`/readyz`).
    public var isReady: Bool { snapshot.load(ordering: .acquiring).loaded }

    public func currentKeys() -> KeySnapshot {
        snapshot.load(ordering: .acquiring)
    }

    public func resolveUnknownKid(now: Double, on eventLoop: EventLoop) -> UnknownKidResolution {
        let promise = eventLoop.makePromise(of: KeySnapshot.self)
        let action = state.withLockedValue { s -> JWKSRefreshStateMachine.FetchAction in
            let action = s.machine.unknownKid(now: now)
            if action == .fetch || action == .join { s.waiters.append(promise) }
            return action
        }
        switch action {
        case .fetch:
            fetch()
            return .wait(promise.futureResult)
        case .join:
            return .wait(promise.futureResult)
        case .rejectUnknownKid:
            promise.succeed(currentKeys())
            return .rejectUnknownKid
        case .unavailable(let retryAfter):
            promise.succeed(currentKeys())
            return .unavailable(retryAfter: retryAfter)
        }
    }

    /// Seconds until the next attempt, for `Retry-After` while nothing is loaded.
    public func retryAfter() -> Int {
        let now = clock()
        return state.withLockedValue { $0.machine.retryAfterWhileUnloaded(now: now) }
    }

    private func fetch() {
        fetcher.get(endpoint, path: path, on: eventLoop).whenComplete { result in
            self.fetchCompleted(result)
        }
    }

    private func fetchCompleted(_ result: Result<HTTPFetcher.Response, Error>) {
        let now = clock()
        var newSnapshot: KeySnapshot?
        var maxAge: Double?
        switch result {
        case .success(let response) where response.status == .ok:
            do {
                let keys = try VerificationKeySet(jwksJSON: response.body.readableBytesView)
                if keys.isEmpty {
                    logger.warning("JWKS has no usable key", metadata: ["app": "\(appID)"])
                } else {
                    newSnapshot = KeySnapshot(keys: keys, loaded: true)
                    maxAge = Self.maxAge(response.headers)
                }
            } catch {
                logger.warning("JWKS document rejected", metadata: ["app": "\(appID)"])
            }
        case .success(let response):
            logger.warning("JWKS fetch failed", metadata: ["app": "\(appID)", "status": "\(response.status.code)"])
        case .failure(let error):
            logger.warning("JWKS fetch failed", metadata: ["app": "\(appID)", "error": "\(error)"])
        }
        if let newSnapshot {
            snapshot.store(newSnapshot, ordering: .releasing)
            Counter(label: "gatehouse_jwks_fetches_total", dimensions: [("result", "ok")]).increment()
        } else {
            Counter(label: "gatehouse_jwks_fetches_total", dimensions: [("result", "error")]).increment()
        }
        let current = snapshot.load(ordering: .acquiring)
        let (waiters, delay) = state.withLockedValue { s -> ([EventLoopPromise<KeySnapshot>], Double?) in
            if newSnapshot != nil {
                s.machine.fetchSucceeded(now: now, maxAge: maxAge)
            } else {
                s.machine.fetchFailed(now: now)
            }
            let w = s.waiters
            s.waiters = []
            return (w, s.stopped ? nil : s.machine.nextScheduledFetchAt - now)
        }
        for waiter in waiters { waiter.succeed(current) }
        if let delay { schedule(in: delay) }
    }

    private func schedule(in seconds: Double) {
        let task = eventLoop.scheduleTask(in: .milliseconds(Int64(max(seconds, 0.05) * 1000))) {
            let now = self.clock()
            let action = self.state.withLockedValue { $0.machine.scheduledFetchDue(now: now) }
            if action == .fetch { self.fetch() }
        }
        let old = state.withLockedValue { s -> Scheduled<Void>? in
            defer { s.timer = task }
            return s.timer
        }
        old?.cancel()
    }

    /// `max-age` of a `Cache-Control` response header, in seconds.
    static func maxAge(_ headers: HTTPHeaders) -> Double? {
        for value in headers[canonicalForm: "cache-control"] {
            let directive = value.trimmingASCIISpaces()
            if directive.lowercased().hasPrefix("max-age="), let n = Double(directive.dropFirst("max-age=".count)) {
                return n
            }
        }
        return nil
    }
}

/// A JWKS source that cannot be set up (bad URL, bad CA file).
public struct JWKSProviderError: Error, CustomStringConvertible {
    public let description: String
}
