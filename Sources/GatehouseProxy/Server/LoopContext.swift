import GatehouseAuth
import GatehouseMetering
import NIOCore

/// What one event loop keeps for itself: the runtime snapshot it serves, upstream pools
/// and verified-token caches. Touched only on its loop, so none of it needs a lock
/// (STYLE habit 4); a configuration reload replaces the snapshot by a task on the loop.
final class LoopContext {
    let eventLoop: EventLoop
    let pool: UpstreamConnectionPool
    /// The configuration this loop serves new requests with. A connection reads it at each
    /// request head, so a reload reaches kept-alive connections at their next request while
    /// in-flight exchanges finish on the snapshot they started with.
    private(set) var runtime: ProxyRuntime
    private(set) var settings: ProxySettings
    /// One cache per app of ``runtime``, indexed by ``AppRuntime/index`` (keys belong to
    /// one app). Replaced with the runtime: a token verified under the old keys or policy
    /// is verified again.
    private var tokenCaches: [VerifiedTokenCache]
    private var random = SystemRandomNumberGenerator()
    /// Meter records of exchanges that ended on this loop, handed to the writer in
    /// batches (at ``meterBatchSize`` or on the loop's flush timer), so the request
    /// path never touches the writer's lock per call.
    private var meterBuffer: [MeterRecord] = []
    let meterWriter: MeterWriter?
    static let meterBatchSize = 256

    init(eventLoop: EventLoop, runtime: ProxyRuntime, settings: ProxySettings, meterWriter: MeterWriter? = nil) {
        self.eventLoop = eventLoop
        self.pool = UpstreamConnectionPool(eventLoop: eventLoop, idleTimeout: settings.idleTimeout)
        self.runtime = runtime
        self.settings = settings
        self.tokenCaches = Array(repeating: VerifiedTokenCache(), count: runtime.apps.count)
        self.meterWriter = meterWriter
        meterBuffer.reserveCapacity(Self.meterBatchSize)
    }

    /// Serves later requests with a reloaded configuration.
    func install(runtime: ProxyRuntime, settings: ProxySettings) {
        self.runtime = runtime
        self.settings = settings
        tokenCaches = Array(repeating: VerifiedTokenCache(), count: runtime.apps.count)
    }

    /// The verified-token cache of `app`. An app of a snapshot replaced meanwhile (a request
    /// that waited for a JWKS refetch across a reload) gets a throwaway cache, never
    /// another app's.
    func withTokenCache<Result>(for app: AppRuntime, _ body: (inout VerifiedTokenCache) -> Result) -> Result {
        guard app.index < tokenCaches.count, runtime.apps[app.index] === app else {
            var scratch = VerifiedTokenCache()
            return body(&scratch)
        }
        return body(&tokenCaches[app.index])
    }

    func record(_ record: MeterRecord) {
        guard meterWriter != nil else { return }
        meterBuffer.append(record)
        if meterBuffer.count >= Self.meterBatchSize { flushMeter() }
    }

    /// Hands the buffered records to the writer (timer, batch full, shutdown).
    func flushMeter() {
        guard let meterWriter, !meterBuffer.isEmpty else { return }
        meterWriter.submit(meterBuffer)
        meterBuffer.removeAll(keepingCapacity: true)
    }

    private var accessLogTick = 0

    /// Whether this request is in the access-log sample (every n-th, per loop: no shared state).
    func sampleAccessLog(percent: Int) -> Bool {
        guard percent > 0 else { return false }
        guard percent < 100 else { return true }
        accessLogTick = (accessLogTick + 1) % 100
        return accessLogTick < percent
    }

    /// A fresh 128-bit request id as 32 lowercase hex digits.
    func makeRequestID() -> String {
        let a = random.next() as UInt64
        let b = random.next() as UInt64
        return Self.hex(a) + Self.hex(b)
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.utf8.count) + s
    }
}
