import GatehouseCore
import GatehouseTesting
import Testing

/// `/metrics` of a live Gatehouse with two event loops: each loop counts its own
/// requests, the scrape sums them; counts survive a reload and an app the reload adds is
/// listed from zero.
@Suite struct MetricsLiveTests {
    static func metric(_ rig: GateRig, _ name: String, _ labels: [String: String]) async throws -> Double? {
        let response = try await rig.admin("/metrics")
        #expect(response.status == 200)
        return MeteringRig.metric(response.text, name, labels)
    }

    @Test func requestsOnEveryLoopAreSummed() async throws {
        let rig = try await GateRig.start()
        #expect(rig.gatehouse.configuration.eventLoops == 2)
        let token = rig.token()
        // A fresh connection each: accepted connections go to the loops in turn.
        for i in 0..<6 {
            #expect(try await rig.gatehouse.request("GET", "/_api/n\(i)", headers: Gate.bearer(token)).status == 200)
        }
        let app = ["app": "app_test"]
        #expect(try await Self.metric(rig, "gatehouse_requests_total", app.merging(["route": "api", "status": "2xx"]) { $1 }) == 6)
        #expect(try await Self.metric(rig, "gatehouse_gate_decisions_total", app.merging(["outcome": "accepted"]) { $1 }) == 6)
        #expect(try await Self.metric(rig, "gatehouse_upstream_response_seconds_count", app.merging(["route": "api"]) { $1 }) == 6)
        #expect(try await Self.metric(rig, "gatehouse_upstream_response_seconds_bucket", app.merging(["route": "api", "le": "+Inf"]) { $1 }) == 6)

        // Three kept-alive connections, on both loops: the gauge sums them.
        var held: [RawConnection] = []
        for i in 0..<3 {
            let connection = try await RawConnection.connect(port: rig.gatehouse.port)
            try await connection.send("GET /_api/held\(i) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
            #expect(try await connection.readResponse().status == 200)
            held.append(connection)
        }
        try await rig.waitUntil { (try? await Self.metric(rig, "gatehouse_open_connections", [:])) == 3 }
        #expect(try await Self.metric(rig, "gatehouse_requests_total", app.merging(["route": "api", "status": "2xx"]) { $1 }) == 9)
        for connection in held { await connection.close() }
        try await rig.waitUntil { (try? await Self.metric(rig, "gatehouse_open_connections", [:])) == 0 }
        await rig.stop()
    }

    @Test func countsSurviveAReloadAndAnAddedAppStartsAtZero() async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        #expect(try await rig.gatehouse.request("GET", "/_api/a", headers: Gate.bearer(token)).status == 200)
        #expect(try await rig.gatehouse.request("GET", "/_api/b", headers: Gate.bearer(token)).status == 200)
        var reloaded = rig.gatehouse.configuration
        var added = reloaded.apps[0]
        added.id = "app_added_by_reload"
        added.hosts = ["added.test"]
        reloaded.apps.append(added)
        try await rig.gatehouse.instance.reload(configuration: reloaded)
        #expect(try await rig.gatehouse.request("GET", "/_api/c", headers: Gate.bearer(token)).status == 200)
        let api2xx = ["route": "api", "status": "2xx"]
        #expect(try await Self.metric(rig, "gatehouse_requests_total", api2xx.merging(["app": "app_test"]) { $1 }) == 3)
        #expect(try await Self.metric(rig, "gatehouse_requests_total", api2xx.merging(["app": "app_added_by_reload"]) { $1 }) == 0)
        await rig.stop()
    }
}
