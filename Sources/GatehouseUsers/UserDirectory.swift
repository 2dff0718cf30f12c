import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Looks a user's profile up elsewhere (Clerk's Backend API) by id, on `eventLoop`.
/// `nil` (or a failed future) when nothing could be learnt: never fatal.
public typealias ProfileLookup = @Sendable (_ userID: String, _ eventLoop: EventLoop) -> EventLoopFuture<UserProfile?>

/// Every user seen in this process, held in memory in front of the ``UserStore`` so the
/// request path never waits for the store (SPEC "Shape": SQLite runs off the loops).
///
/// A sighting touches one of 32 shards, each behind its own lock (picked by a hash of
/// app and id), and marks the user *dirty* only when something worth writing happened:
/// first sight, a changed profile field, or `last_seen` advanced by at least
/// ``lastSeenResolution`` since the value last written. ``flush()`` (every few seconds on
/// a timer, before every listing, and at shutdown) writes the dirty users in one batch.
/// So a user calling the API all day costs one store write per minute, not per request.
///
/// Any thread; the store's work runs on its own thread pool.
public final class UserDirectory: Sendable {
    struct Key: Hashable, Sendable {
        let app: String
        let id: String
    }

    enum Lookup: Sendable {
        case notStarted
        case inFlight(EventLoopFuture<UserProfile?>)
        case done
    }

    struct Entry: Sendable {
        var profile: UserProfile
        var firstSeen: Double
        var lastSeen: Double
        /// `last_seen` as last handed to the store; `nil` before the first write.
        var writtenSeen: Double?
        var dirty: Bool
        var lookup: Lookup
    }

    /// `last_seen` is written again only once it moved by this many seconds.
    public let lastSeenResolution: Double
    public let store: any UserStore
    private let shards: [NIOLockedValueBox<[Key: Entry]>]
    private let flushLoop: EventLoop
    private let timer = NIOLockedValueBox<RepeatedTask?>(nil)
    private let logger: Logger
    static let shardCount = 32
    /// Bound on users kept in memory per shard; at the bound, clean entries are dropped
    /// (the store still has them; the cost is one more write when they come back).
    let maxEntriesPerShard: Int

    public init(
        store: any UserStore, flushLoop: EventLoop, lastSeenResolution: Double = 60, maxEntriesPerShard: Int = 20_000,
        logger: Logger = Logger(label: "gatehouse.users")
    ) {
        self.store = store
        self.flushLoop = flushLoop
        self.lastSeenResolution = lastSeenResolution
        self.maxEntriesPerShard = maxEntriesPerShard
        self.shards = (0..<Self.shardCount).map { _ in NIOLockedValueBox([:]) }
        self.logger = logger
    }

    /// Starts the periodic flush.
    public func start(flushEvery interval: TimeAmount = .seconds(2)) {
        let task = flushLoop.scheduleRepeatedAsyncTask(initialDelay: interval, delay: interval) { [self] _ in
            self.flush().recover { _ in }
        }
        timer.withLockedValue { $0 = task }
    }

    /// Stops the timer and writes what is still dirty (after the proxy drained).
    public func shutdown() async {
        let task = timer.withLockedValue { t -> RepeatedTask? in
            defer { t = nil }
            return t
        }
        if let task {
            let promise = flushLoop.makePromise(of: Void.self)
            task.cancel(promise: promise)
            try? await promise.futureResult.get()
        }
        try? await flush().get()
    }

    // MARK: - Sightings

    /// What a sighting asks of the caller: nothing, or to start the profile look-up the
    /// entry now waits on (`promise`).
    enum SightAction {
        case none
        case startLookup(EventLoopPromise<UserProfile?>)
    }

    /// Records that `id` of `app` was seen at `now` with the profile its claims give.
    /// Returns the profile as known now and the look-up the caller must start, if any.
    func sight(app: String, id: String, claims: UserProfile, now: Double, lookupOn eventLoop: EventLoop?)
        -> (profile: UserProfile, pending: EventLoopFuture<UserProfile?>?, action: SightAction)
    {
        let key = Key(app: app, id: id)
        return shard(key).withLockedValue { map in
            var entry: Entry
            if let existing = map[key] {
                entry = existing
                entry.lastSeen = max(entry.lastSeen, now)
                let merged = claims.filling(from: entry.profile)
                if merged != entry.profile {
                    entry.profile = merged
                    entry.dirty = true
                }
                if let written = entry.writtenSeen, entry.lastSeen - written >= lastSeenResolution { entry.dirty = true }
            } else {
                if map.count >= maxEntriesPerShard { Self.evictClean(&map) }
                entry = Entry(profile: claims, firstSeen: now, lastSeen: now, writtenSeen: nil, dirty: true, lookup: .notStarted)
            }
            var action = SightAction.none
            var pending: EventLoopFuture<UserProfile?>?
            switch entry.lookup {
            case .notStarted:
                if let eventLoop, !entry.profile.isComplete {
                    let promise = eventLoop.makePromise(of: UserProfile?.self)
                    entry.lookup = .inFlight(promise.futureResult)
                    pending = promise.futureResult
                    action = .startLookup(promise)
                }
            case .inFlight(let future):
                pending = future
            case .done:
                break
            }
            map[key] = entry
            return (entry.profile, pending, action)
        }
    }

    /// Merges a finished look-up into the entry: fields the claims did not name are
    /// taken from it; the look-up is not repeated in this process.
    func lookupFinished(app: String, id: String, found: UserProfile?) -> UserProfile? {
        let key = Key(app: app, id: id)
        return shard(key).withLockedValue { map in
            guard var entry = map[key] else { return nil }
            entry.lookup = .done
            if let found {
                let merged = entry.profile.filling(from: found)
                if merged != entry.profile {
                    entry.profile = merged
                    entry.dirty = true
                }
            }
            map[key] = entry
            return entry.profile
        }
    }

    private static func evictClean(_ map: inout [Key: Entry]) {
        map = map.filter { _, entry in
            if entry.dirty { return true }
            if case .inFlight = entry.lookup { return true }
            return false
        }
    }

    private func shard(_ key: Key) -> NIOLockedValueBox<[Key: Entry]> {
        var hasher = Hasher()
        hasher.combine(key)
        return shards[Int(UInt(bitPattern: hasher.finalize()) % UInt(Self.shardCount))]
    }

    // MARK: - Writing

    /// Writes every dirty user in one batch. A failed write marks them dirty again, so
    /// the next flush retries.
    @discardableResult
    public func flush() -> EventLoopFuture<Void> {
        var batch: [UserSighting] = []
        for shard in shards {
            shard.withLockedValue { map in
                for (key, var entry) in map where entry.dirty {
                    entry.dirty = false
                    entry.writtenSeen = entry.lastSeen
                    map[key] = entry
                    batch.append(UserSighting(
                        appID: key.app, id: key.id, profile: entry.profile, firstSeen: entry.firstSeen, lastSeen: entry.lastSeen
                    ))
                }
            }
        }
        guard !batch.isEmpty else { return flushLoop.makeSucceededVoidFuture() }
        let written = batch
        return store.record(batch, on: flushLoop).flatMapErrorThrowing { [self] error in
            self.logger.warning("user store write failed; will retry", metadata: ["error": "\(error)", "users": "\(written.count)"])
            for sighting in written {
                let key = Key(app: sighting.appID, id: sighting.id)
                self.shard(key).withLockedValue { map in
                    map[key]?.dirty = true
                }
            }
            throw error
        }
    }

    /// Users held in memory (bounded; for tests and metrics).
    public var cachedCount: Int { shards.reduce(0) { $0 + $1.withLockedValue { $0.count } } }
}
