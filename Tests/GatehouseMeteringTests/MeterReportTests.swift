import Foundation
import GatehouseMetering
import Testing

@Suite struct MeterReportTests {
    /// Two instances, two days, one torn last line.
    static func fixture() async -> String {
        let dir = MeterTestSupport.tempDirectory()
        let one = MeterTestSupport.writer(dir, instance: "host-a")
        one.submit([
            MeterTestSupport.record("2026-11-24T10:00:00.000Z", user: "alice", path: "/v1/a", status: 200, req: 1, resp: 10, duration: 1),
            MeterTestSupport.record("2026-11-24T10:30:00.000Z", user: "bob", path: "/v1/b", status: 502, req: 2, resp: 20, duration: 2, outcome: .upstreamError),
            MeterTestSupport.record("2026-11-24T11:00:00.000Z", user: "alice", path: "/v1/a", status: 200, req: 3, resp: 30, duration: 3),
        ])
        await one.shutdown()
        let two = MeterTestSupport.writer(dir, instance: "host-b")
        two.submit([
            MeterTestSupport.record("2026-11-25T09:00:00.000Z", user: "alice", path: "/v1/a", status: 200, req: 4, resp: 40, duration: 4),
            MeterTestSupport.record("2026-11-25T09:00:01.000Z", user: "carol", path: "/v1/c", status: 200, req: 5, resp: 50, duration: 10, outcome: .clientAbort),
            MeterTestSupport.record("2026-11-25T09:00:02.000Z", org: "org_other", user: "zed", status: 200),
        ])
        await two.shutdown()
        // A crash mid-write leaves a torn line without its newline.
        let handle = try? FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/org_a/2026-11-25.host-b.jsonl"))
        _ = try? handle?.seekToEnd()
        try? handle?.write(contentsOf: Data(#"{"ts":"2026-11-25T09:00:03.000Z","org":"org_a","#.utf8))
        try? handle?.close()
        return dir
    }

    @Test func byDayReadsEveryInstanceAndSkipsTheTornLine() async throws {
        let dir = await Self.fixture()
        let (rows, skipped) = try MeterReport.run(.init(directory: dir, org: "org_a", by: .day))
        #expect(skipped == 1)
        #expect(rows.map(\.key) == ["2026-11-24", "2026-11-25"])
        #expect(rows[0] == MeterReport.Row(key: "2026-11-24", calls: 3, errors: 1, requestBytes: 6, responseBytes: 60, p50: 2, p95: 3))
        #expect(rows[1].calls == 2 && rows[1].errors == 1)
    }

    @Test func groupsByHourUserPathAndStatus() async throws {
        let dir = await Self.fixture()
        #expect(try MeterReport.run(.init(directory: dir, org: "org_a", by: .hour)).rows.map(\.key) == ["2026-11-24T10", "2026-11-24T11", "2026-11-25T09"])
        let users = try MeterReport.run(.init(directory: dir, org: "org_a", by: .user)).rows
        #expect(users.map(\.key) == ["alice", "bob", "carol"])
        #expect(users[0].calls == 3)
        #expect(try MeterReport.run(.init(directory: dir, org: "org_a", by: .path)).rows.map(\.key) == ["/v1/a", "/v1/b", "/v1/c"])
        #expect(try MeterReport.run(.init(directory: dir, org: "org_a", by: .status)).rows.map(\.key) == ["200", "502"])
    }

    @Test func sinceIsInclusiveUntilExclusiveAndAllOrgsByDefault() async throws {
        let dir = await Self.fixture()
        let since = UTCTimestamp.parse("2026-11-24T10:30:00Z")
        let until = UTCTimestamp.parse("2026-11-25T09:00:01Z")
        let rows = try MeterReport.run(.init(directory: dir, since: since, until: until, by: .user)).rows
        #expect(rows.map(\.key) == ["alice", "bob"])
        #expect(rows.map(\.calls) == [2, 1])
        let all = try MeterReport.run(.init(directory: dir, by: .day)).rows
        #expect(all.map(\.calls) == [3, 3])
    }

    @Test func percentilesAreNearestRank() {
        var h = DurationHistogram()
        for v in 1...20 { h.add(Double(v)) }
        #expect(h.percentile(50) == 10)
        #expect(h.percentile(95) == 19)
        var one = DurationHistogram()
        one.add(12.34)
        #expect(one.percentile(50) == 12.3 && one.percentile(95) == 12.3)
    }

    @Test func formatsHaveTheSpecColumns() throws {
        let rows = [MeterReport.Row(key: "2026-11-24", calls: 3, errors: 1, requestBytes: 6, responseBytes: 60, p50: 2, p95: 3)]
        let json = MeterReport.render(rows, format: .json)
        let parsed = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(Set(parsed[0].keys) == ["key", "calls", "errors", "req_bytes", "resp_bytes", "p50_ms", "p95_ms"])
        #expect(parsed[0]["key"] as? String == "2026-11-24")
        let csv = MeterReport.render(rows, format: .csv).split(separator: "\n")
        #expect(csv[0] == "key,calls,errors,req_bytes,resp_bytes,p50_ms,p95_ms")
        #expect(csv[1] == "2026-11-24,3,1,6,60,2.0,3.0")
        let table = MeterReport.render(rows, format: .table).split(separator: "\n")
        #expect(table.count == 2 && table[0].hasPrefix("key") && table[1].hasPrefix("2026-11-24"))
    }

    @Test func tailFollowsAppendsAndNewDayFiles() async throws {
        let dir = MeterTestSupport.tempDirectory()
        let writer = MeterTestSupport.writer(dir)
        writer.submit([MeterTestSupport.record("2026-11-24T23:59:00.000Z", id: "old")])
        await writer.flush()
        var tailer = try MeterTailer(directory: dir)
        #expect(tailer.poll().isEmpty)  // existing records are not replayed
        writer.submit([MeterTestSupport.record("2026-11-24T23:59:59.000Z", id: "before-midnight")])
        writer.submit([MeterTestSupport.record("2026-11-25T00:00:01.000Z", id: "after-midnight")])
        await writer.shutdown()
        let lines = tailer.poll()
        #expect(lines.count == 2)
        #expect(lines[0].contains("before-midnight") && lines[1].contains("after-midnight"))
        #expect(tailer.poll().isEmpty)
    }

    @Test func timestampsRoundTrip() {
        #expect(UTCTimestamp.rfc3339(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        // Every field zero-padded to its width, and full-width values kept whole.
        for text in ["2026-11-24T13:45:01.123Z", "2028-02-29T09:05:07.005Z", "2000-10-10T10:10:10.100Z", "9999-12-31T23:59:59.999Z"] {
            #expect(UTCTimestamp.rfc3339(milliseconds: UTCTimestamp.parse(text) ?? -1) == text)
        }
        #expect(UTCTimestamp.day(milliseconds: UTCTimestamp.parse("2026-01-02T03:04:05Z") ?? 0) == "2026-01-02")
        #expect(UTCTimestamp.parse("2026-11-24T13:45:01.123Z") == 1_795_527_901_123)
        #expect(UTCTimestamp.parse("2026-11-24T14:45:01.123+01:00") == 1_795_527_901_123)
        #expect(UTCTimestamp.parse("2026-11-24") == UTCTimestamp.parse("2026-11-24T00:00:00Z"))
        #expect(UTCTimestamp.parse("2026-13-01") == nil)
        #expect(UTCTimestamp.startOfNextMonth(milliseconds: UTCTimestamp.parse("2026-12-31T23:59:59Z") ?? 0) == UTCTimestamp.parse("2027-01-01"))
    }
}
