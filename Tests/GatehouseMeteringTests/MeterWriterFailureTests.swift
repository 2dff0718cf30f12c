import Foundation
import GatehouseCore
import Logging
import NIOConcurrencyHelpers
import Testing
@testable import GatehouseMetering

#if canImport(Glibc)
import Glibc
#endif

/// A disk that fails part-way through a write (EIO, ENOSPC after a partial write): the
/// records it did not take are retried, the ones it took are not written again, and the
/// torn line is completed — each record ends up in the file exactly once.
@Suite struct MeterWriterFailureTests {
    /// Lets the first write through for `allowed` bytes, fails the next one with EIO, then
    /// behaves like `write(2)`.
    final class FlakyDisk: Sendable {
        private let state: NIOLockedValueBox<(calls: Int, allowed: Int)>
        init(allowed: Int) { state = NIOLockedValueBox((0, allowed)) }
        var calls: Int { state.withLockedValue { $0.calls } }

        func write(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
            let call = state.withLockedValue { s -> (Int, Int) in
                s.calls += 1
                return (s.calls, s.allowed)
            }
            switch call.0 {
            case 1: return Glibc.write(fd, bytes, min(count, call.1))
            case 2:
                errno = EIO
                return -1
            default: return Glibc.write(fd, bytes, count)
            }
        }
    }

    /// 1 and 100 bytes: the failure tears the first line; 300: the first line is complete
    /// and the second torn.
    @Test(arguments: [1, 100, 300])
    func aWriteFailingPartWayLeavesEveryRecordOnceInTheFile(allowed: Int) async throws {
        let records = (0..<3).map { MeterTestSupport.record("2026-11-24T10:00:0\($0).000Z", id: "r\($0)") }
        var expected: [UInt8] = []
        for record in records { record.appendJSONLine(to: &expected) }
        let firstLine = (expected.firstIndex(of: UInt8(ascii: "\n")) ?? 0) + 1
        #expect(firstLine > 100 && firstLine < 300 && expected.count > 300 + firstLine, "where the tear falls")

        let dir = MeterTestSupport.tempDirectory()
        var config = MeteringConfiguration()
        config.dir = dir
        config.fsync = .always
        config.flushIntervalMs = 20
        let disk = FlakyDisk(allowed: allowed)
        let writer = MeterWriter(configuration: config, instance: "test-1", highWatermark: 100_000, logger: Logger(label: "meter-test"),
                                 writeCall: { disk.write($0, $1, $2) })
        writer.submit(records)
        await writer.flush()  // a drain fails part-way; the next one retries what is left
        await writer.shutdown()
        #expect(disk.calls >= 3, "the failing write happened")
        let file = try #require(FileManager.default.contents(atPath: dir + "/org_a/2026-11-24.test-1.jsonl"))
        #expect(String(decoding: file, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        #expect(writer.queuedCount == 0)
    }
}
