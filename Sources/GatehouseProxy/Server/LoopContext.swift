import GatehouseAuth
import GatehouseMetering
import NIOCore

/// What one event loop keeps for itself: upstream pools and verified-token caches.
/// Touched only on its loop, so none of it needs a lock (STYLE habit 4).
final class LoopContext {
    let eventLoop: EventLoop
    let pool: UpstreamConnectionPool
    /// One cache per app, indexed by ``AppRuntime/index`` (keys belong to one app).
    var tokenCaches: [VerifiedTokenCache]
    private var random = SystemRandomNumberGenerator()
    /// Meter records of exchanges that ended on this loop, handed to the writer in
    /// batches (at ``meterBatchSize`` or on the loop's flush timer), so the request
    /// path never touches the writer's lock per call.
    private var meterBuffer: [MeterRecord] = []
    let meterWriter: MeterWriter?
    static let meterBatchSize = 256

    init(eventLoop: EventLoop, appCount: Int, idleTimeout: TimeAmount, meterWriter: MeterWriter? = nil) {
        self.eventLoop = eventLoop
        self.pool = UpstreamConnectionPool(eventLoop: eventLoop, idleTimeout: idleTimeout)
        self.tokenCaches = Array(repeating: VerifiedTokenCache(), count: appCount)
        self.meterWriter = meterWriter
        meterBuffer.reserveCapacity(Self.meterBatchSize)
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
