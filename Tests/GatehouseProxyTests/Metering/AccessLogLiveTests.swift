import Foundation
import GatehouseCore
import GatehouseTesting
import Testing

/// `access_log` (issue 3): one swift-log line per request when enabled, carrying what
/// identifies the request and its result — never the owner key, a token or the query.
@Suite struct AccessLogLiveTests {
    static func accessLines(_ capture: LogCapture) -> [String] {
        capture.text.split(separator: "\n").map(String.init).filter { $0.contains(": request ") }
    }

    @Test func oneLinePerRequestWithoutSecretsOrQuery() async throws {
        let capture = LogCapture()
        let gate = TestGate()
        let rig = try await GateRig.start(apiResponder: { r in
            r.path == "/wait" ? .gated(gate, then: .fixed(body: "late")) : .fixed(body: "ok")
        }, logger: capture.logger()) { config in
            config.accessLog.enabled = true
            config.accessLog.samplePercent = 100
            MeteringRig.meter(&config, dir: MeteringRig.tempDirectory("meter-access"))
        }
        defer { MeteringRig.remove(rig.gatehouse.configuration.metering.dir) }
        let token = rig.token(sub: "user_access")
        var statuses: [Int] = []
        statuses.append(try await rig.gatehouse.request("GET", "/_api/v1/items?api_key=querysecret42&q=x", headers: [("Authorization", "Bearer " + token)]).status)
        statuses.append(try await rig.gatehouse.request("GET", "/_api/v1/items?token=querysecret43").status)
        statuses.append(try await rig.gatehouse.request("GET", "/_api/v1/items", headers: [("Authorization", "Bearer " + TestGatehouse.ownerKey)]).status)
        statuses.append(try await rig.gatehouse.request("GET", "/page?session=querysecret44").status)
        #expect(statuses == [200, 401, 401, 200])

        // A client that leaves before the answer is still one line (status 499).
        let connection = try await RawConnection.connect(port: rig.gatehouse.port)
        try await connection.send("GET /_api/wait HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        #expect(await MeteringRig.eventually { rig.api.requests.contains { $0.path == "/wait" } })
        await connection.close()
        #expect(await MeteringRig.eventually { Self.accessLines(capture).count >= 5 })
        gate.open()
        await rig.stop()

        let lines = Self.accessLines(capture)
        #expect(lines.count == 5, "\(lines.joined(separator: "\n"))")
        #expect(lines.contains { $0.contains("status=200") && $0.contains("path=/_api/v1/items") && $0.contains("user=user_access") && $0.contains("route=api") })
        #expect(lines.contains { $0.contains("status=200") && $0.contains("path=/page") && $0.contains("route=app") })
        #expect(lines.filter { $0.contains("status=401") }.count == 2)
        #expect(lines.contains { $0.contains("status=499") && $0.contains("path=/_api/wait") }, "\(lines.joined(separator: "\n"))")
        let upstreamIDs = rig.api.requests.compactMap { $0.headers.first(name: "X-Request-Id") }
        #expect(upstreamIDs.allSatisfy { id in lines.contains { $0.contains("request_id=\(id)") } })
        let all = capture.text
        #expect(!all.contains("querysecret"))
        #expect(lines.allSatisfy { !$0.contains("?") })
        #expect(!all.contains(token))
        #expect(!all.contains(TestGatehouse.ownerKey))
    }

    @Test func offByDefault() async throws {
        let capture = LogCapture()
        let rig = try await GateRig.start(logger: capture.logger()) { config in
            MeteringRig.meter(&config, dir: MeteringRig.tempDirectory("meter-access"))
        }
        defer { MeteringRig.remove(rig.gatehouse.configuration.metering.dir) }
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Bearer " + rig.token())]).status == 200)
        #expect(try await rig.gatehouse.request("GET", "/_api/x").status == 401)
        await rig.stop()
        #expect(Self.accessLines(capture).isEmpty)
    }
}
