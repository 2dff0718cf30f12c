import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// SPEC "Metering": rejected requests (401/403/429) are not billed — no record — but are
/// counted in `/metrics` (`gatehouse_gate_decisions_total{app,outcome}`).
@Suite struct RejectedCallsLiveTests {
    @Test func rejectionsWriteNoRecordAndAreCountedInMetrics() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let appID = MeteringRig.uniqueAppID("app_rej")
        let rig = try await GateRig.start { config in
            config.apps[0].id = appID
            config.apps[0].policy.allowEmails = ["ok@meter.test"]
            config.apps[0].quotas.userRequestsPerMinute = 1
            MeteringRig.meter(&config, dir: dir)
        }
        let allowed = rig.token(sub: "user_ok", extra: ["email": .string("ok@meter.test")])
        let denied = rig.token(sub: "user_denied", extra: ["email": .string("no@elsewhere.test")])

        let missing = try await rig.gatehouse.request("GET", "/_api/a")
        #expect(missing.status == 401)
        let malformed = try await rig.gatehouse.request("GET", "/_api/b", headers: [("Authorization", "Bearer not-a-token")])
        #expect(malformed.status == 401)
        let forbidden = try await rig.gatehouse.request("GET", "/_api/c", headers: [("Authorization", "Bearer " + denied)])
        #expect(forbidden.status == 403)
        let ok = try await rig.gatehouse.request("GET", "/_api/d", headers: [("Authorization", "Bearer " + allowed)])
        #expect(ok.status == 200)
        let limited = try await rig.gatehouse.request("GET", "/_api/e", headers: [("Authorization", "Bearer " + allowed)])
        #expect(limited.status == 429)
        #expect(rig.api.requests.map(\.path) == ["/d"])

        let metrics = try await rig.admin("/metrics")
        #expect(metrics.status == 200)
        let text = metrics.text
        func decisions(_ outcome: String) -> Double? {
            MeteringRig.metric(text, "gatehouse_gate_decisions_total", ["app": appID, "outcome": outcome])
        }
        #expect(decisions("missing_token") == 1, "\(text)")
        #expect(decisions("unknown_key") == 1)
        #expect(decisions("forbidden") == 1)
        #expect(decisions("rate_limited") == 1)
        #expect((decisions("accepted") ?? 0) >= 1)
        #expect(MeteringRig.metric(text, "gatehouse_requests_total", ["app": appID, "route": "local", "status": "4xx"]) == 4)
        #expect(MeteringRig.metric(text, "gatehouse_requests_total", ["app": appID, "route": "api", "status": "2xx"]) == 1)
        await rig.stop()

        let records = MeteringRig.records(dir)
        #expect(records.count == 1, "records: \(records)")
        #expect(records.first?.string("user") == "user_ok")
        #expect(records.first?.string("path") == "/d")
        let files = MeteringRig.allText(dir)
        for secret in [allowed, denied, TestGatehouse.ownerKey, "not-a-token"] {
            #expect(!files.contains(secret))
        }
    }
}
