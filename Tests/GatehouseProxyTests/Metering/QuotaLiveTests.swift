import Foundation
import GatehouseCore
import GatehouseMetering
import GatehouseTesting
import Testing

/// `quotas` (issue 3): a token bucket per user per app, and a calendar-month counter per
/// org that is seeded from the meter logs, so it survives a restart. Driven by a
/// ``TestClock`` so the refill and the `Retry-After` values are exact.
@Suite struct QuotaLiveTests {
    /// 2026-11-24T12:00:00Z; the month ends 6 days 12 hours later.
    static let noon = Double(UTCTimestamp.parse("2026-11-24T12:00:00Z")!) / 1000
    static let secondsToMonthEnd = 6 * 86_400 + 12 * 3600

    static func start(dir: String, clock: TestClock, instance: String = "itest", api: TestHTTPServer,
                      quotas: (inout QuotasConfiguration) -> Void) async throws -> TestGatehouse {
        let config = TestGatehouse.configuration(appUpstream: "http://127.0.0.1:1", apiUpstream: api.url, auth: MeteringRig.apiKeyAuth) { config in
            config.apps[0].org = "org_quota"
            quotas(&config.apps[0].quotas)
            MeteringRig.meter(&config, dir: dir, instance: instance)
        }
        return try await TestGatehouse.start(config, clock: { clock.now })
    }

    @Test func userBucketLimitsOneUserOnly() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let clock = TestClock(Self.noon)
        let gatehouse = try await Self.start(dir: dir, clock: clock, api: api) { $0.userRequestsPerMinute = 3 }

        for _ in 0..<3 {
            #expect(try await gatehouse.request("GET", "/_api/q", headers: MeteringRig.bearer).status == 200)
        }
        let limited = try await gatehouse.request("GET", "/_api/q", headers: MeteringRig.bearer)
        #expect(limited.status == 429)
        // 3 per minute: the next token comes in 20 s.
        #expect(limited.text == #"{"error":"rate_limited","retry_after_s":20}"#)
        #expect(limited.header("Retry-After") == "20")
        #expect(api.requests.count == 3)

        // Another user of the same app is not affected.
        #expect(try await gatehouse.request("GET", "/_api/q", headers: MeteringRig.otherBearer).status == 200)

        clock.advance(19)
        let stillLimited = try await gatehouse.request("GET", "/_api/q", headers: MeteringRig.bearer)
        #expect(stillLimited.status == 429)
        #expect(stillLimited.header("Retry-After") == "1")
        clock.advance(1)
        #expect(try await gatehouse.request("GET", "/_api/q", headers: MeteringRig.bearer).status == 200)
        await gatehouse.stop()
        await api.stop()

        // Only the calls that went through are billed.
        let records = MeteringRig.records(dir)
        #expect(records.count == 5)
        #expect(records.filter { $0.string("user") == "service:meter" }.count == 4)
    }

    @Test func orgMonthlyQuotaIsSpentAndSurvivesARestart() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let clock = TestClock(Self.noon)

        // First instance: 3 of the 5 calls this month.
        let first = try await Self.start(dir: dir, clock: clock, instance: "replica-a", api: api) { $0.orgRequestsPerMonth = 5 }
        for _ in 0..<3 {
            #expect(try await first.request("GET", "/_api/m", headers: MeteringRig.bearer).status == 200)
        }
        await first.stop()
        #expect(MeteringRig.records(dir).count == 3)
        #expect(MeteringRig.files(dir) == [dir + "/org_quota/2026-11-24.replica-a.jsonl"])

        // A new instance on the same meter dir: 2 left, whoever the user is.
        clock.advance(3600)
        let second = try await Self.start(dir: dir, clock: clock, instance: "replica-b", api: api) { $0.orgRequestsPerMonth = 5 }
        #expect(try await second.request("GET", "/_api/m", headers: MeteringRig.bearer).status == 200)
        #expect(try await second.request("GET", "/_api/m", headers: MeteringRig.otherBearer).status == 200)
        let spent = try await second.request("GET", "/_api/m", headers: MeteringRig.otherBearer)
        #expect(spent.status == 429)
        let wait = Self.secondsToMonthEnd - 3600
        #expect(spent.text == #"{"error":"rate_limited","retry_after_s":\#(wait)}"#)
        #expect(spent.header("Retry-After") == String(wait))
        #expect(try await second.request("GET", "/_api/m", headers: MeteringRig.bearer).status == 429)
        #expect(api.requests.count == 5)

        // Next month the allowance is whole again (the old month's records do not count).
        clock.advance(Double(wait))
        #expect(try await second.request("GET", "/_api/m", headers: MeteringRig.bearer).status == 200)
        await second.stop()
        await api.stop()
        #expect(MeteringRig.records(dir).count == 6)
    }
}
