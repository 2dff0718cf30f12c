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

    /// Records hopping between files (the batch remembers the last one's group), a batch
    /// copied midway and both copies appended to: each file gets exactly its records' lines,
    /// in order, and the copy never sees the original's later records.
    @Test func recordsHoppingBetweenFilesLandInTheirOwn() async throws {
        let files = [("org_a", "2026-11-24"), ("org_b", "2026-11-24"), ("org_a", "2026-11-25"), ("org_c", "2026-11-24"), ("org_b", "2026-11-26")]
        var generator = SystemRandomNumberGenerator()
        var order: [Int] = []
        for _ in 0..<400 {
            // Runs of one file, as traffic comes, and single hops.
            let file = Int.random(in: 0..<files.count, using: &generator)
            order += Array(repeating: file, count: Int.random(in: 1...4, using: &generator))
        }
        var batch = MeterBatch()
        var copy = MeterBatch()
        var expected = Array(repeating: [UInt8](), count: files.count)
        var expectedCopy = expected
        for (n, file) in order.enumerated() {
            let (org, day) = files[file]
            let record = MeterTestSupport.record("\(day)T10:00:00.000Z", org: org, id: "r\(n)")
            batch.append(record)
            record.appendJSONLine(to: &expected[file])
            if n < order.count / 2 { record.appendJSONLine(to: &expectedCopy[file]) }
            if n == order.count / 2 - 1 { copy = batch }
            if n >= order.count / 2, n % 3 == 0 {
                let other = MeterTestSupport.record("\(day)T11:00:00.000Z", org: org, id: "c\(n)")
                copy.append(other)
                other.appendJSONLine(to: &expectedCopy[file])
            }
        }
        for (written, wanted) in [(batch, expected), (copy, expectedCopy)] {
            let dir = MeterTestSupport.tempDirectory()
            let writer = MeterTestSupport.writer(dir)
            writer.submit(written)
            await writer.shutdown()
            for (file, (org, day)) in files.enumerated() {
                let bytes = FileManager.default.contents(atPath: dir + "/\(org)/\(day).test-1.jsonl").map(Array.init) ?? []
                // Compared first, so a failure names the file and sizes, not every byte.
                let same = bytes == wanted[file]
                #expect(same, "\(org)/\(day): \(bytes.count) bytes written, \(wanted[file].count) wanted")
            }
        }
    }

    static func requestID(_ line: String) -> String? {
        guard let start = line.range(of: #""request_id":""#)?.upperBound,
              let end = line[start...].firstIndex(of: "\"") else { return nil }
        return String(line[start..<end])
    }
}
