import Foundation
import GatehouseCore
import GatehouseMetering
import Testing

@Suite struct MeterWriterTests {
    @Test(arguments: [MeteringConfiguration.Fsync.always, .interval, .never])
    func everySubmittedRecordIsWrittenOnceAfterShutdown(_ mode: MeteringConfiguration.Fsync) async throws {
        let dir = MeterTestSupport.tempDirectory()
        let writer = MeterTestSupport.writer(dir, fsync: mode)
        writer.start()
        for batch in 0..<10 {
            writer.submit((0..<25).map { MeterTestSupport.record("2026-11-24T10:00:00.000Z", id: "b\(batch)-\($0)") })
        }
        await writer.shutdown()
        let lines = MeterTestSupport.lines(dir + "/org_a/2026-11-24.test-1.jsonl")
        #expect(lines.count == 250)
        #expect(Set(lines).count == 250)
        #expect(writer.queuedCount == 0)
    }

    @Test func recordsGoToTheirOrgAndUTCDayFile() async throws {
        let dir = MeterTestSupport.tempDirectory()
        let writer = MeterTestSupport.writer(dir)
        writer.submit([
            MeterTestSupport.record("2026-11-24T23:59:59.999Z", org: "org_a"),
            MeterTestSupport.record("2026-11-25T00:00:00.000Z", org: "org_a"),
            MeterTestSupport.record("2026-11-25T00:00:00.000Z", org: "org_b"),
        ])
        await writer.shutdown()
        #expect(MeterTestSupport.lines(dir + "/org_a/2026-11-24.test-1.jsonl").count == 1)
        #expect(MeterTestSupport.lines(dir + "/org_a/2026-11-25.test-1.jsonl").count == 1)
        #expect(MeterTestSupport.lines(dir + "/org_b/2026-11-25.test-1.jsonl").count == 1)
    }

    @Test func directoriesAndFilesAreNotWorldReadable() async throws {
        let dir = MeterTestSupport.tempDirectory() + "/nested/meter"
        let writer = MeterTestSupport.writer(dir)
        writer.submit([MeterTestSupport.record("2026-11-24T10:00:00.000Z")])
        await writer.shutdown()
        let orgMode = try #require(try FileManager.default.attributesOfItem(atPath: dir + "/org_a")[.posixPermissions] as? Int)
        let fileMode = try #require(try FileManager.default.attributesOfItem(atPath: dir + "/org_a/2026-11-24.test-1.jsonl")[.posixPermissions] as? Int)
        #expect(orgMode & 0o007 == 0)
        #expect(fileMode & 0o007 == 0)
    }

    @Test func failedWritesAreKeptRetriedAndCloseAdmission() async throws {
        let dir = MeterTestSupport.tempDirectory()
        // The org directory's place is taken by a plain file: every write fails.
        _ = FileManager.default.createFile(atPath: dir + "/org_a", contents: Data("x".utf8))
        let writer = MeterTestSupport.writer(dir, highWatermark: 3)
        writer.start()
        writer.submit((0..<3).map { MeterTestSupport.record("2026-11-24T10:00:00.000Z", id: "k\($0)") })
        await writer.flush()
        #expect(writer.isOverloaded)
        #expect(writer.queuedCount == 3)
        // The disk comes back: the kept records are written, none lost.
        try FileManager.default.removeItem(atPath: dir + "/org_a")
        writer.submit([MeterTestSupport.record("2026-11-24T10:00:01.000Z", id: "k3")])
        await writer.shutdown()
        #expect(!writer.isOverloaded)
        let lines = MeterTestSupport.lines(dir + "/org_a/2026-11-24.test-1.jsonl")
        #expect(lines.count == 4)
    }
}

/// `metering.fsync` behaves as named, seen through the writer's fsync count (no flush
/// or shutdown is called, which always sync).
@Suite struct MeterFsyncPolicyTests {
    static func drained(_ writer: MeterWriter) async throws {
        for _ in 0..<500 where writer.queuedCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(writer.queuedCount == 0)
    }

    @Test func alwaysSyncsEachBatchAsItIsWritten() async throws {
        let writer = MeterTestSupport.writer(MeterTestSupport.tempDirectory(), fsync: .always)
        writer.submit([MeterTestSupport.record("2026-11-24T10:00:00.000Z")])
        // No timer runs (start() is not called): only the batch itself can sync. The
        // sync follows the write, so wait for it (bounded) rather than for the queue.
        var synced = false
        for _ in 0..<500 where !synced {
            try await Task.sleep(for: .milliseconds(10))
            synced = writer.fsyncCount >= 1
        }
        #expect(synced)
        await writer.shutdown()
    }

    @Test func neverLeavesSyncingToTheKernelUntilShutdown() async throws {
        let writer = MeterTestSupport.writer(MeterTestSupport.tempDirectory(), fsync: .never)
        writer.start()
        writer.submit([MeterTestSupport.record("2026-11-24T10:00:00.000Z")])
        try await Self.drained(writer)
        // Several flush intervals (20 ms each) pass: still no sync.
        for _ in 0..<10 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(writer.fsyncCount == 0)
        await writer.shutdown()
        #expect(writer.fsyncCount == 1)
    }

    @Test func intervalSyncsOnTheTimerNotPerBatch() async throws {
        let writer = MeterTestSupport.writer(MeterTestSupport.tempDirectory(), fsync: .interval)
        writer.submit([MeterTestSupport.record("2026-11-24T10:00:00.000Z")])
        try await Self.drained(writer)
        #expect(writer.fsyncCount == 0)  // written, not synced: no timer runs yet
        writer.start()
        var synced = false
        for _ in 0..<500 where !synced {
            try await Task.sleep(for: .milliseconds(10))
            synced = writer.fsyncCount >= 1
        }
        #expect(synced)
        await writer.shutdown()
    }
}
