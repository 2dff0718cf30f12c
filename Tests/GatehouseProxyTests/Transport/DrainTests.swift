import Foundation
import GatehouseTesting
import NIOConcurrencyHelpers
import Testing

/// SPEC "Command line": SIGTERM drains — new connections are refused, requests in
/// flight complete, then the process exits 0.
@Suite struct DrainTests {
    @Test func inFlightRequestCompletesWhileShutdownDrains() async throws {
        let gate = TestGate()
        let api = try await TestHTTPServer.start { r in
            r.path == "/slow" ? .gated(gate, then: .fixed(body: "slow done")) : .fixed(body: "fast")
        }
        let gatehouse = try await TransportRig.start(api: api.url)
        let inFlight = Task { try await gatehouse.request("GET", "/_api/slow", headers: TransportRig.bearer) }
        #expect(await TransportRig.eventually { api.requests.count == 1 })

        let finished = NIOLockedValueBox(false)
        let shutdown = Task {
            await gatehouse.instance.shutdown()
            finished.withLockedValue { $0 = true }
        }
        #expect(await TransportRig.eventually { await TransportRig.connectRefused(port: gatehouse.port) })
        // Still draining: the request has not been answered yet.
        #expect(!finished.withLockedValue { $0 })

        gate.open()
        let response = try await inFlight.value
        #expect(response.status == 200)
        #expect(response.text == "slow done")
        await shutdown.value
        #expect(finished.withLockedValue { $0 })
        await api.stop()
    }

    @Test func sigtermLetsTheRequestFinishAndExitsZero() async throws {
        let gate = TestGate()
        let api = try await TestHTTPServer.start { r in
            r.path == "/slow" ? .gated(gate, then: .fixed(body: "slow done")) : .fixed(body: "fast")
        }
        let gatehouse = try await GatehouseProcess.start(
            yaml: ProcessMemoryTests.yaml(app: api.url, api: api.url), binary: GatehouseProcess.locateBinary()
        )
        defer { gatehouse.kill() }
        let port = gatehouse.port
        let inFlight = Task {
            let connection = try await RawConnection.connect(port: port)
            var head = "GET /_api/slow HTTP/1.1\r\nHost: gatehouse.test\r\n"
            for (name, value) in TransportRig.bearer { head += "\(name): \(value)\r\n" }
            try await connection.send(head + "\r\n")
            let response = try await connection.readResponse(timeout: .seconds(30))
            await connection.close()
            return response
        }
        #expect(await TransportRig.eventually { api.requests.count == 1 })

        gatehouse.terminate()
        #expect(await TransportRig.eventually { await TransportRig.connectRefused(port: port) })
        #expect(gatehouse.process.isRunning)

        gate.open()
        let response = try await inFlight.value
        #expect(response.status == 200)
        #expect(response.text == "slow done")
        let status = await gatehouse.waitForExit()
        #expect(status == 0, "gatehouse log:\n\(gatehouse.log)")
        await api.stop()
    }
}
