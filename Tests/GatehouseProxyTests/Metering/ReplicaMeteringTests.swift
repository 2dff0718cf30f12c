import Foundation
import GatehouseMetering
import GatehouseTesting
import Testing

/// Several replicas on one meter volume (SPEC "Metering": files per org, day and
/// instance). Two real `gatehouse serve` processes bill into one directory at the same
/// time; `gatehouse meter report` over that directory counts every call of both exactly
/// once, and groups across them.
@Suite(.serialized) struct ReplicaMeteringTests {
    static func load(port: Int, replica: String, calls: Int, workers: Int = 4) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    let connection = try await RawConnection.connect(port: port)
                    for i in 0..<(calls / workers) {
                        try await connection.send("GET /_api/\(replica)/\(worker)/\(i) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(MeteringRig.apiKey)\r\n\r\n")
                        let response = try await connection.readResponse()
                        guard response.status == 200 else { throw MeteringTestError(description: "status \(response.status)") }
                    }
                    await connection.close()
                }
            }
            try await group.waitForAll()
        }
    }

    /// Runs two replicas named `instances` into `dir`, `calls` each, concurrently, then
    /// stops both with SIGTERM (the flush).
    static func runReplicas(dir: String, instances: (String, String), calls: Int) async throws {
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let binary = try GatehouseProcess.locateBinary()
        let a = try await GatehouseProcess.start(yaml: MeteringRig.yaml(api: api.url, dir: dir, instance: instances.0, fsync: "interval", flushMs: 20), binary: binary)
        defer { a.kill() }
        let b = try await GatehouseProcess.start(yaml: MeteringRig.yaml(api: api.url, dir: dir, instance: instances.1, fsync: "interval", flushMs: 20), binary: binary)
        defer { b.kill() }
        let (portA, portB) = (a.port, b.port)
        async let loadA: Void = load(port: portA, replica: "a", calls: calls)
        async let loadB: Void = load(port: portB, replica: "b", calls: calls)
        _ = try await (loadA, loadB)
        a.terminate()
        b.terminate()
        #expect(await a.waitForExit() == 0)
        #expect(await b.waitForExit() == 0)
        await api.stop()
    }

    @Test func twoReplicasOnOneVolumeAreReportedTogether() async throws {
        let dir = MeteringRig.tempDirectory("replicas")
        defer { MeteringRig.remove(dir) }
        let calls = 200
        try await Self.runReplicas(dir: dir, instances: ("replica-a", "replica-b"), calls: calls)

        let files = MeteringRig.files(dir).map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(files.count == 2)
        #expect(files.contains { $0.hasSuffix(".replica-a.jsonl") } && files.contains { $0.hasSuffix(".replica-b.jsonl") })

        // The CLI billing runs: every call of both replicas once, grouped across them.
        let byUser = try await CLIRun.run(["meter", "report", "--dir", dir, "--by", "user", "--format", "json"])
        #expect(byUser.status == 0, "\(byUser.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(byUser.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["key"] as? String } == ["service:meter"])
        #expect(rows.map { $0["calls"] as? Int } == [2 * calls], "the user's calls from both replicas in one group")
        #expect(rows.allSatisfy { $0["errors"] as? Int == 0 })

        let byDay = try MeterReport.run(MeterReport.Query(directory: dir, by: .day))
        #expect(byDay.rows.reduce(0) { $0 + $1.calls } == 2 * calls)
        #expect(byDay.skipped == 0)
        let paths = Set(MeteringRig.records(dir).compactMap { $0["path"] as? String })
        #expect(paths.count == 2 * calls, "no call billed twice or lost")
    }

    /// Two replicas misconfigured with the same `metering.instance` append to the same
    /// files. Each batch is one `write(2)` on an `O_APPEND` descriptor, so lines never
    /// interleave: the report still counts every call and skips nothing.
    @Test func replicasSharingAnInstanceNameStillWriteWholeLines() async throws {
        let dir = MeteringRig.tempDirectory("replicas-same")
        defer { MeteringRig.remove(dir) }
        let calls = 400
        try await Self.runReplicas(dir: dir, instances: ("same", "same"), calls: calls)
        #expect(MeteringRig.files(dir).count == 1)
        let totals = try MeteringRig.reportTotals(dir)
        #expect(totals.calls == 2 * calls)
        #expect(totals.skipped == 0)
        #expect(MeteringRig.records(dir).allSatisfy { !$0.isEmpty }, "every line is one whole JSON record")
    }
}
