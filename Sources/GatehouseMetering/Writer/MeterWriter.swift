import Atomics
import Dispatch
import GatehouseCore
import Logging
import Metrics
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Appends meter records to the per-org JSON Lines files, off the event loops.
///
/// Event loops encode their records into a ``MeterBatch`` as requests end and hand it over
/// with ``submit(_:)-(MeterBatch)``: one short lock to append to the queue, never held
/// across I/O. A serial Dispatch queue drains it, writes each file's lines with one
/// `write(2)`, and syncs as `fsync` says:
/// `always` syncs every batch before the next is taken, `interval` every
/// `flush_interval_ms`, `never` leaves it to the kernel (shutdown still syncs).
///
/// Backpressure policy (documented in the README): the queue never drops a record. When
/// more than ``highWatermark`` records wait (the disk stalls, or writes fail and are
/// retried), ``isOverloaded`` turns true and the gate refuses new `/_api` calls with
/// 503 before forwarding them, so no call is forwarded that could not be billed.
public final class MeterWriter: Sendable {
    private struct Queue {
        var batches: [MeterBatch] = []
        var drainScheduled = false
    }

    /// Files and sync state, touched only on `queue` (the lock is uncontended; it makes
    /// the confinement checkable instead of assumed).
    private struct Files {
        var open: [String: Int32] = [:]
        var dirty: Set<String> = []
        var knownDirectories: Set<String> = []
    }

    public let layout: MeterFileLayout
    public let highWatermark: Int
    private let fsync: MeteringConfiguration.Fsync
    private let flushInterval: DispatchTimeInterval
    private let queue = DispatchQueue(label: "gatehouse.meter.writer")
    private let pending = NIOLockedValueBox(Queue())
    private let files = NIOLockedValueBox(Files())
    private let queued = ManagedAtomic<Int>(0)
    /// The most records ever waiting at once: what the queue cost in memory at its worst
    /// (a disk stall shows here long after the queue drained).
    private let peakQueued = ManagedAtomic<Int>(0)
    private let fsyncs = ManagedAtomic<Int>(0)
    private let stopped = ManagedAtomic<Bool>(false)
    private let logger: Logger

    private let written = Counter(label: "gatehouse_meter_records_written_total")
    private let syncs = Counter(label: "gatehouse_meter_fsyncs_total")
    private let writeErrors = Counter(label: "gatehouse_meter_write_errors_total")
    private let dropped = Counter(label: "gatehouse_meter_records_dropped_total")

    /// `write(2)`; a test replaces it to fail part-way.
    typealias WriteCall = @Sendable (Int32, UnsafeRawPointer?, Int) -> Int
    private let writeCall: WriteCall

    public convenience init(configuration: MeteringConfiguration, instance: String, highWatermark: Int = 100_000, logger: Logger) {
        self.init(configuration: configuration, instance: instance, highWatermark: highWatermark, logger: logger,
                  writeCall: { fd, bytes, count in write(fd, bytes, count) })
    }

    init(configuration: MeteringConfiguration, instance: String, highWatermark: Int, logger: Logger, writeCall: @escaping WriteCall) {
        self.writeCall = writeCall
        self.layout = MeterFileLayout(directory: configuration.dir, instance: instance)
        self.fsync = configuration.fsync
        self.flushInterval = .milliseconds(max(1, configuration.flushIntervalMs))
        self.highWatermark = highWatermark
        self.logger = logger
        dropped.increment(by: 0)
    }

    /// Starts the interval timer (syncs in `interval` mode, retries after write errors).
    public func start() {
        scheduleTick()
    }

    private func scheduleTick() {
        queue.asyncAfter(deadline: .now() + flushInterval) { [weak self] in
            guard let self, !self.stopped.load(ordering: .relaxed) else { return }
            self.tick()
            self.scheduleTick()
        }
    }

    /// Whether new billable calls must be refused (see the type's backpressure policy).
    public var isOverloaded: Bool { queued.load(ordering: .relaxed) >= highWatermark }

    /// Records waiting to be written.
    public var queuedCount: Int { queued.load(ordering: .relaxed) }

    /// The most records that have waited at once since the start.
    public var peakQueuedCount: Int { peakQueued.load(ordering: .relaxed) }

    /// The queue's gauges in Prometheus text, read when `/metrics` is scraped (nothing to
    /// update on the request path): how close the writer is to ``highWatermark``, where
    /// `/_api` calls start being refused, so an alert can fire before they are.
    public var queueMetricsText: String {
        """
        # HELP gatehouse_meter_queued_records Meter records waiting to be written.
        # TYPE gatehouse_meter_queued_records gauge
        gatehouse_meter_queued_records \(queuedCount)
        # HELP gatehouse_meter_queued_records_peak The most meter records that have waited at once since the start.
        # TYPE gatehouse_meter_queued_records_peak gauge
        gatehouse_meter_queued_records_peak \(peakQueuedCount)
        # HELP gatehouse_meter_queue_high_watermark Queued meter records at which new /_api calls are refused (503).
        # TYPE gatehouse_meter_queue_high_watermark gauge
        gatehouse_meter_queue_high_watermark \(highWatermark)

        """
    }

    /// `fsync(2)` calls made so far (what `fsync:` promises is observable, and tested).
    public var fsyncCount: Int { fsyncs.load(ordering: .relaxed) }

    /// Hands records over, encoding them on the caller's thread.
    public func submit(_ records: [MeterRecord]) {
        submit(MeterBatch(records))
    }

    /// Hands a batch over. Called on event loops; takes a lock only to append.
    public func submit(_ batch: MeterBatch) {
        guard !batch.isEmpty else { return }
        let waiting = queued.wrappingIncrementThenLoad(by: batch.count, ordering: .relaxed)
        var peak = peakQueued.load(ordering: .relaxed)
        while waiting > peak {
            let (exchanged, original) = peakQueued.compareExchange(expected: peak, desired: waiting, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
        let schedule = pending.withLockedValue { q -> Bool in
            q.batches.append(batch)
            defer { q.drainScheduled = true }
            return !q.drainScheduled
        }
        if schedule { queue.async { self.drain() } }
    }

    /// Writes everything queued and syncs every file written since the last sync.
    public func flush() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            queue.async {
                self.drain()
                self.syncDirty()
                done.resume()
            }
        }
    }

    /// Graceful shutdown: flush, sync and close every file; stop the timer.
    public func shutdown() async {
        stopped.store(true, ordering: .relaxed)
        await flush()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            queue.async {
                self.files.withLockedValue { f in
                    for (_, fd) in f.open { close(fd) }
                    f.open.removeAll()
                }
                done.resume()
            }
        }
    }

    // MARK: - On the writer queue

    private func tick() {
        drain()
        if fsync == .interval { syncDirty() }
    }

    private func drain() {
        let batches = pending.withLockedValue { q -> [MeterBatch] in
            q.drainScheduled = false
            defer { q.batches.removeAll(keepingCapacity: true) }
            return q.batches
        }
        guard !batches.isEmpty else { return }
        // Every waiting batch's lines, file by file and in order; each file's path is
        // built once per drain, not once per record.
        var byFile = MeterBatch()
        for batch in batches { byFile.append(contentsOf: batch) }
        var failed = MeterBatch()
        for (key, group) in byFile.groups {
            let path = layout.path(org: key.org, day: UTCTimestamp.day(milliseconds: key.day * MeterFileKey.dayMs))
            let done = append(group.bytes, to: path, org: key.org)
            if done == group.bytes.count {
                written.increment(by: Int64(group.count))
                queued.wrappingDecrement(by: group.count, ordering: .relaxed)
            } else {
                // Only what did not reach the file is kept. A write that failed part-way
                // left a torn line at the end of the file (O_APPEND, this instance its
                // only writer): the retry appends the rest of that line, so every record
                // ends up there exactly once — retrying the whole group would bill the
                // lines already written twice and bury the torn one in a garbled line.
                writeErrors.increment()
                let complete = group.bytes[..<done].reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                written.increment(by: Int64(complete))
                queued.wrappingDecrement(by: complete, ordering: .relaxed)
                failed.add(MeterBatch.Group(bytes: Array(group.bytes[done...]), count: group.count - complete), for: key)
            }
        }
        if !failed.isEmpty {
            // Kept, not dropped: retried on the next tick; meanwhile the queue grows and
            // admission stops at the high watermark.
            pending.withLockedValue { $0.batches.insert(failed, at: 0) }
        }
        if fsync == .always { syncDirty() }
    }

    /// Appends `bytes` to the file; returns how many reached it (all of them unless a
    /// write failed).
    private func append(_ bytes: [UInt8], to path: String, org: String) -> Int {
        files.withLockedValue { f in
            guard let fd = descriptor(for: path, org: org, files: &f) else { return 0 }
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { raw in
                    writeCall(fd, raw.baseAddress.map { $0 + offset }, bytes.count - offset)
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    logger.error("meter write failed", metadata: ["path": "\(path)", "errno": "\(errno)"])
                    close(fd)
                    f.open[path] = nil
                    return offset
                }
                offset += n
            }
            f.dirty.insert(path)
            return offset
        }
    }

    private func descriptor(for path: String, org: String, files f: inout Files) -> Int32? {
        if let fd = f.open[path] { return fd }
        let dir = layout.orgDirectory(org)
        if !f.knownDirectories.contains(dir) {
            Self.makeDirectory(layout.directory)
            Self.makeDirectory(dir)
            f.knownDirectories.insert(dir)
        }
        if f.open.count >= 64 {
            // Old days' files: sync and close them all; they reopen if needed.
            for (openPath, fd) in f.open {
                if f.dirty.contains(openPath) { _ = Glibc.fsync(fd) }
                close(fd)
            }
            f.open.removeAll()
            f.dirty.removeAll()
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            f.knownDirectories.remove(dir)  // make it again on the retry
            logger.error("meter file cannot be opened", metadata: ["path": "\(path)", "errno": "\(errno)"])
            return nil
        }
        f.open[path] = fd
        return fd
    }

    private static func makeDirectory(_ path: String) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            _ = mkdir(current, 0o750)
        }
    }

    private func syncDirty() {
        files.withLockedValue { f in
            for path in f.dirty {
                if let fd = f.open[path] {
                    _ = Glibc.fsync(fd)
                    syncs.increment()
                    fsyncs.wrappingIncrement(ordering: .relaxed)
                }
            }
            f.dirty.removeAll()
        }
    }
}
