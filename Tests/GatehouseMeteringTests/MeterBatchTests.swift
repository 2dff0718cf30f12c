import Foundation
import GatehouseMetering
import Testing

/// Records encoded where they are made (``MeterBatch``): grouped by org and UTC day, in
/// order, and written by the writer byte for byte as the lines the reader parses.
@Suite struct MeterBatchTests {
    @Test func linesAreEncodedOnAppendAndWrittenInOrderPerFile() async throws {
        var batch = MeterBatch()
        batch.append(MeterTestSupport.record("2026-11-24T23:59:59.999Z", org: "org_a", id: "a1"))
        batch.append(MeterTestSupport.record("2026-11-25T00:00:00.000Z", org: "org_b", id: "b1"))
        batch.append(MeterTestSupport.record("2026-11-24T10:00:00.000Z", org: "org_a", id: "a2"))
        #expect(batch.count == 3)

        var later = MeterBatch()
        later.append(MeterTestSupport.record("2026-11-24T11:00:00.000Z", org: "org_a", id: "a3"))

        let dir = MeterTestSupport.tempDirectory()
        let writer = MeterTestSupport.writer(dir)
        writer.submit(batch)
        writer.submit(later)
        writer.submit(MeterBatch())
        await writer.shutdown()

        let a = MeterTestSupport.lines(dir + "/org_a/2026-11-24.test-1.jsonl")
        #expect(a.map(Self.requestID) == ["a1", "a2", "a3"])
        let b = MeterTestSupport.lines(dir + "/org_b/2026-11-25.test-1.jsonl")
        #expect(b.map(Self.requestID) == ["b1"])
        #expect(writer.queuedCount == 0)
    }

    @Test func aBatchWritesExactlyTheLinesEachRecordEncodes() async throws {
        // Seconds shared, crossed and gone back to: the batch reuses a second's text.
        let times = ["10:00:00.000", "10:00:00.999", "10:00:01.000", "10:00:00.500", "10:00:02.007", "10:00:02.007", "23:59:59.999"]
        let records = times.enumerated().map { MeterTestSupport.record("2026-11-24T\($1)Z", id: "r\($0)") }
        var expected: [UInt8] = []
        for record in records { record.appendJSONLine(to: &expected) }
        let dir = MeterTestSupport.tempDirectory()
        let writer = MeterTestSupport.writer(dir)
        writer.submit(MeterBatch(records))
        await writer.shutdown()
        let written = try #require(FileManager.default.contents(atPath: dir + "/org_a/2026-11-24.test-1.jsonl"))
        #expect(Array(written) == expected)
        #expect(MeterBatch().isEmpty)
    }

    static func requestID(_ line: String) -> String? {
        guard let start = line.range(of: #""request_id":""#)?.upperBound,
              let end = line[start...].firstIndex(of: "\"") else { return nil }
        return String(line[start..<end])
    }
}
