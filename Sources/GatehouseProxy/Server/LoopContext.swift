import GatehouseAuth
import GatehouseCore
import GatehouseMetering
import NIOCore

/// What one event loop keeps for itself: the runtime snapshot it serves, upstream pools
/// and verified-token caches. Touched only on its loop, so none of it needs a lock
/// (STYLE habit 4); a configuration reload replaces the snapshot by a task on the loop.
final class LoopContext {
    let eventLoop: EventLoop
    let pool: UpstreamConnectionPool
    /// The spare buffers every head this loop writes (upstream requests, client
    /// responses) is serialized into when free.
    let headBuffers: HeadBufferRecycler
    /// Client and upstream flushes, made together at the end of each tick.
    let flushes: DeferredFlushes
    /// The configuration this loop serves new requests with. A connection reads it at each
    /// request head, so a reload reaches kept-alive connections at their next request while
    /// in-flight exchanges finish on the snapshot they started with.
    private(set) var runtime: ProxyRuntime
    private(set) var settings: ProxySettings
    /// How many snapshots ``install(runtime:settings:)`` has put in: a connection takes
    /// ``runtime`` and ``settings`` again only when this moved (copying the settings at
    /// every request head was ~200 instructions of retains and releases).
    private(set) var snapshot = 0
    /// One cache per app of ``runtime``, indexed by ``AppRuntime/index`` (keys belong to
    /// one app). Replaced with the runtime: a token verified under the old keys or policy
    /// is verified again. Never `nil` but inside ``withTokenCache(for:_:)``.
    private var tokenCaches: [VerifiedTokenCache]?
    /// Meter records of exchanges that ended on this loop, encoded as they end and handed
    /// to the writer in batches (at ``meterBatchSize`` or on the loop's flush timer), so
    /// the request path never touches the writer's lock per call and the writer's thread
    /// has no encoding burst to preempt this loop with. Never `nil` but inside
    /// ``record(_:)`` and ``flushMeter()``.
    private var meterBatch: MeterBatch? = MeterBatch()
    let meterWriter: MeterWriter?
    static let meterBatchSize = 256
    /// This loop's request counters, summed over the loops at each scrape.
    let metrics: LoopMetrics
    /// Random bytes for the loop's pages' CSP nonces, drawn from the kernel in bulk.
    let randomBytes = RandomBytePool()

    init(eventLoop: EventLoop, runtime: ProxyRuntime, settings: ProxySettings, meterWriter: MeterWriter? = nil) {
        self.eventLoop = eventLoop
        let flushes = DeferredFlushes(eventLoop: eventLoop)
        self.flushes = flushes
        let headBuffers = HeadBufferRecycler(flushes: flushes)
        self.headBuffers = headBuffers
        self.pool = UpstreamConnectionPool(eventLoop: eventLoop, idleTimeout: settings.idleTimeout, headBuffers: headBuffers, flushes: flushes)
        self.runtime = runtime
        self.settings = settings
        self.tokenCaches = Array(repeating: VerifiedTokenCache(), count: runtime.apps.count)
        self.meterWriter = meterWriter
        self.metrics = LoopMetrics(slots: runtime.apps.map(\.metricSlot))
    }

    /// Serves later requests with a reloaded configuration.
    func install(runtime: ProxyRuntime, settings: ProxySettings) {
        self.runtime = runtime
        self.settings = settings
        snapshot &+= 1
        tokenCaches = Array(repeating: VerifiedTokenCache(), count: runtime.apps.count)
        metrics.prepare(slots: runtime.apps.map(\.metricSlot))
        pool.retire(keeping: runtime.apps.flatMap { [$0.appEndpoint, $0.apiEndpoint] }, idleTimeout: settings.idleTimeout)
    }

    /// The verified-token cache of `app`. An app of a snapshot replaced meanwhile (a request
    /// that waited for a JWKS refetch across a reload) gets a throwaway cache, never
    /// another app's.
    ///
    /// The caches are moved out (`take()`) for `body` and back, as are the meter records
    /// in ``record(_:)``. Why: an access to a class's stored property that spans a call the
    /// optimizer cannot see into (here the whole token check) might conflict with another,
    /// so Swift checks every access to that property at run time (`swift_beginAccess`,
    /// ~75 instructions); moved, every access is a load or a store the whole-module
    /// optimizer proves exclusive (`Benchmarks/README.md`, twenty-first round). A `body`
    /// that asked for a token cache again would stop on the precondition, where the access
    /// held across it stopped on the run-time check.
    func withTokenCache<Result>(for app: AppRuntime, _ body: (inout VerifiedTokenCache) -> Result) -> Result {
        guard var caches = tokenCaches.take() else { preconditionFailure("token caches re-entered") }
        guard app.index < caches.count, runtime.apps[app.index] === app else {
            tokenCaches = consume caches
            var scratch = VerifiedTokenCache()
            return body(&scratch)
        }
        let result = body(&caches[app.index])
        tokenCaches = consume caches
        return result
    }

    func record(_ record: MeterRecord) {
        guard meterWriter != nil else { return }
        guard var batch = meterBatch.take() else { preconditionFailure("meter batch re-entered") }
        batch.append(record)
        let full = batch.count >= Self.meterBatchSize
        meterBatch = consume batch
        if full { flushMeter() }
    }

    /// Hands the buffered records to the writer (timer, batch full, shutdown).
    func flushMeter() {
        guard let meterWriter, meterBatch?.isEmpty == false, let batch = meterBatch.take() else { return }
        meterBatch = MeterBatch()
        meterWriter.submit(batch)
    }

    private var accessLogTick = 0

    /// Whether this request is in the access-log sample (every n-th, per loop: no shared state).
    func sampleAccessLog(percent: Int) -> Bool {
        guard percent > 0 else { return false }
        guard percent < 100 else { return true }
        accessLogTick = (accessLogTick + 1) % 100
        return accessLogTick < percent
    }

    /// The high 64 bits of this loop's request ids: random per loop and process, so ids
    /// from replicas and loops never collide.
    private let requestIDPrefix = UInt64.random(in: .min ... .max)
    /// The low 64 bits: a per-loop sequence starting at a random point.
    private var requestIDSequence = UInt64.random(in: .min ... .max)

    /// A fresh 128-bit request id (32 lowercase hex digits when written): unique, not
    /// secret (it is a correlation id that also appears in logs and upstream headers). A
    /// sequence, not a random draw per request: drawing from the system generator is a
    /// `getrandom(2)` system call on every request.
    func makeRequestID() -> RequestID {
        requestIDSequence &+= 1
        return RequestID(high: requestIDPrefix, low: requestIDSequence)
    }
}
