import Foundation
import GatehouseTesting
import NIOConcurrencyHelpers
import Testing

/// The real `gatehouse serve` binary under keep-alive load: its configuration file is
/// rewritten and SIGHUP sent, several times, one of them with a configuration that
/// cannot be used. No request fails, no connection drops, the bad one is refused with a
/// log line, and each good one reaches the upstream.
@Suite(.serialized) struct SighupProcessTests {
    static let ownerKey = "sk_owner_reload_81f3"

    static func yaml(api: String, generation: String, devKeyFile: String? = nil) -> String {
        """
        listen: 127.0.0.1:0
        admin_listen: 127.0.0.1:0
        event_loops: 2
        users:
          store: "sqlite::memory:"
        metering:
          dir: ./meter
        apps:
          - id: app_reload
            org: org_reload
            upstream: \(api)
            api:
              upstream: \(api)
              owner_key: \(ownerKey)
              extra_headers: {X-Config-Generation: "\(generation)"}
            auth:
              mode: dev
        \(devKeyFile.map { "      dev_key_file: \($0)" } ?? "")
        """
    }

    static func occurrences(of text: String, in log: String) -> Int {
        log.components(separatedBy: text).count - 1
    }

    @Test func sighupReloadsUnderLoadWithoutAFailedRequest() async throws {
        let api = try await TestHTTPServer.start { _ in .fixed(headers: [("Content-Type", "application/json")], body: #"{"ok":true}"#) }
        let gatehouse = try await GatehouseProcess.start(yaml: Self.yaml(api: api.url, generation: "0"), binary: GatehouseProcess.locateBinary())
        defer { gatehouse.kill() }
        let port = gatehouse.port

        // A dev token from the process itself; the generated dev key must outlive reloads.
        let minted = try await RawConnection.connect(port: port)
        let body = #"{"email":"reload@example.com","name":"Reload"}"#
        try await minted.send("POST /_auth/dev/token HTTP/1.1\r\nHost: g.test\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let tokenResponse = try await minted.readResponse()
        await minted.close()
        #expect(tokenResponse.status == 200)
        let tokenJSON = try #require(try JSONSerialization.jsonObject(with: Data(tokenResponse.body)) as? [String: Any])
        let token = try #require(tokenJSON["token"] as? String)

        let load = KeepAliveLoad(port: port) { worker, i in
            "GET /_api/w\(worker)/\(i) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n"
        }

        let steps: [(generation: String, valid: Bool)] = [("1", true), ("bad", false), ("2", true), ("3", true)]
        var reloaded = 0
        var rejected = 0
        // A wait that runs out says which one, with what the load and the process saw.
        func waiting(_ what: String, _ wait: () async throws -> Void) async throws {
            do {
                try await wait()
            } catch {
                let load = load.soFar
                // Is the process answering at all, and did the upstream see more than was answered?
                var probe = "no probe answer"
                if let connection = try? await RawConnection.connect(port: port) {
                    try? await connection.send("GET /_api/probe HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
                    if let response = try? await connection.readResponse() { probe = "probe \(response.status)" }
                    await connection.close()
                }
                Issue.record("""
                    \(what): \(error); \(load.ok) answered, failures: \(load.failures.prefix(5)); \
                    upstream saw \(api.requests.count); \(probe); \
                    last upstream generation: \(api.requests.last?.values("X-Config-Generation") ?? []); \
                    log: \(gatehouse.log.suffix(3000))
                    """)
                throw error
            }
        }
        for step in steps {
            try await waiting("traffic before generation \(step.generation)") { try await load.waitForTraffic(100) }
            let yaml = step.valid
                ? Self.yaml(api: api.url, generation: step.generation)
                : Self.yaml(api: api.url, generation: step.generation, devKeyFile: "/nonexistent/dev-key.pem")
            try yaml.write(to: gatehouse.configFile, atomically: true, encoding: .utf8)
            gatehouse.signal(SIGHUP)
            if step.valid { reloaded += 1 } else { rejected += 1 }
            let (wantReloaded, wantRejected) = (reloaded, rejected)
            let logFile = gatehouse.logFile
            try await waiting("reload log for generation \(step.generation)") {
                _ = try await GateRig.poll {
                    let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
                    return Self.occurrences(of: "configuration reloaded", in: log) == wantReloaded
                        && Self.occurrences(of: "configuration reload rejected", in: log) == wantRejected
                }
            }
            if step.valid {
                try await waiting("generation \(step.generation) upstream") {
                    _ = try await GateRig.poll { api.requests.last?.values("X-Config-Generation") == [step.generation] }
                }
            }
        }
        let result = await load.stop()
        #expect(result.failures.isEmpty, "\(result.failures.prefix(5))")
        #expect(result.ok >= 400)
        let seen = Set(api.requests.compactMap { $0.values("X-Config-Generation").first })
        #expect(seen == ["0", "1", "2", "3"], "the refused configuration never served a request")
        let log = gatehouse.log
        #expect(log.contains("dev_key_file"), "the refusal names the field: \(log)")
        #expect(gatehouse.process.isRunning)

        gatehouse.terminate()
        #expect(await gatehouse.waitForExit() == 0)
        await api.stop()
    }

    /// `serve --watch-config`: a rewritten file is picked up without a signal (the
    /// Kubernetes ConfigMap case), a broken one is refused and the old one kept.
    @Test func watchConfigReloadsAChangedFile() async throws {
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let gatehouse = try await GatehouseProcess.start(
            yaml: Self.yaml(api: api.url, generation: "0"), binary: GatehouseProcess.locateBinary(), arguments: ["--watch-config"])
        defer { gatehouse.kill() }
        let logFile = gatehouse.logFile

        try "apps: [".write(to: gatehouse.configFile, atomically: true, encoding: .utf8)
        try await GateRig.poll {
            ((try? String(contentsOf: logFile, encoding: .utf8)) ?? "").contains("configuration reload rejected")
        }
        try Self.yaml(api: api.url, generation: "1").replacingOccurrences(of: "app_reload", with: "app_watched")
            .write(to: gatehouse.configFile, atomically: true, encoding: .utf8)
        try await GateRig.poll {
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            return log.contains("configuration file changed: reloading configuration") && log.contains("apps=app_watched")
        }
        #expect(gatehouse.process.isRunning)
        gatehouse.terminate()
        #expect(await gatehouse.waitForExit() == 0)
        await api.stop()
    }
}
