import Foundation
import GatehouseCore
import GatehouseMetering
import GatehouseTesting
import NIOConcurrencyHelpers
import Testing

/// The real `gatehouse serve` binary: what only a process shows about metering — the
/// SIGTERM flush, the loss bound of a SIGKILL, and `/metrics` of a process of its own
/// (exact counts, no other test shares its registry).
@Suite(.serialized) struct MeteringProcessTests {
    /// SIGTERM: stop accepting, drain, hand over every loop's records, flush, sync.
    /// `flush_interval_ms` is ten minutes, so before the signal every record is still in
    /// the loops' buffers: only the shutdown flush can write them.
    @Test func sigtermFlushesEveryRecord() async throws {
        let dir = MeteringRig.tempDirectory("meter-term")
        defer { MeteringRig.remove(dir) }
        let api = try await TestHTTPServer.start { r in .fixed(body: "ok " + r.path) }
        let gatehouse = try await GatehouseProcess.start(
            yaml: MeteringRig.yaml(api: api.url, dir: dir, fsync: "interval", flushMs: 600_000),
            binary: GatehouseProcess.locateBinary()
        )
        defer { gatehouse.kill() }
        let n = 120
        let port = gatehouse.port
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    let connection = try await RawConnection.connect(port: port)
                    for i in 0..<(n / 4) {
                        try await connection.send("GET /_api/w\(worker)/\(i) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(MeteringRig.apiKey)\r\n\r\n")
                        let response = try await connection.readResponse()
                        guard response.status == 200 else { throw MeteringTestError(description: "status \(response.status)") }
                    }
                    await connection.close()
                }
            }
            try await group.waitForAll()
        }
        #expect(api.requests.count == n)
        #expect(MeteringRig.records(dir).isEmpty, "nothing is due before the flush interval")

        gatehouse.terminate()
        let status = await gatehouse.waitForExit()
        #expect(status == 0, "log:\n\(gatehouse.log)")
        await api.stop()

        let records = MeteringRig.records(dir)
        #expect(records.count == n)
        #expect(Set(records.compactMap { $0.string("path") }).count == n)
        #expect(records.allSatisfy { $0.string("org") == "org_proc" && $0.string("app") == "app_proc" && $0.string("outcome") == "ok" })
        let totals = try MeteringRig.reportTotals(dir)
        #expect(totals.calls == n)
        #expect(totals.skipped == 0)
        #expect(MeteringRig.files(dir).allSatisfy { $0.hasPrefix(dir + "/org_proc/") && $0.hasSuffix(".proc.jsonl") })
    }

    /// SIGKILL under concurrent load. What may be lost is what the design buffers: each
    /// event loop holds up to `LoopContext.meterBatchSize` (256) records, for at most
    /// `flush_interval_ms / 2` (10 ms here); then the writer's queue, which with
    /// `fsync: always` holds what arrives during one write-and-fsync (one more batch's
    /// worth at most here). So the bound is `event_loops × 256 + 256`.
    @Test func sigkillUnderLoadLosesABoundedNumberAndLeavesReadableFiles() async throws {
        let dir = MeteringRig.tempDirectory("meter-kill")
        defer { MeteringRig.remove(dir) }
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let eventLoops = 2
        let gatehouse = try await GatehouseProcess.start(
            yaml: MeteringRig.yaml(api: api.url, dir: dir, fsync: "always", flushMs: 20, eventLoops: eventLoops),
            binary: GatehouseProcess.locateBinary()
        )
        defer { gatehouse.kill() }
        let port = gatehouse.port
        let received = NIOLockedValueBox(0)
        let workers = 8
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        guard let connection = try? await RawConnection.connect(port: port) else { return }
                        var i = 0
                        while !Task.isCancelled {
                            do {
                                try await connection.send("POST /_api/load/\(worker) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(MeteringRig.apiKey)\r\nContent-Length: 3\r\n\r\nabc")
                                let response = try await connection.readResponse(timeout: .seconds(5))
                                guard response.status == 200, response.text == "ok" else { break }
                                received.withLockedValue { $0 += 1 }
                                i += 1
                            } catch {
                                break
                            }
                        }
                        await connection.close()
                    }
                }
            }
        }
        // Load long enough for records to be in every stage: buffered, queued, written.
        let loaded = await MeteringRig.eventually(timeout: .seconds(60)) { received.withLockedValue { $0 } >= 2000 }
        #expect(loaded)
        #expect(await MeteringRig.eventually { !MeteringRig.files(dir).isEmpty })
        Foundation.kill(gatehouse.pid, SIGKILL)
        _ = await gatehouse.waitForExit()
        await load.value
        await api.stop()
        let responses = received.withLockedValue { $0 }

        // Every file reads, with the public reader and the report; a torn line is skipped.
        var reader = MeterLogReader(directory: dir)
        var readerCount = 0
        try reader.forEach { _ in readerCount += 1 }
        let files = MeteringRig.files(dir)
        #expect(reader.skippedLines <= files.count)
        let totals = try MeteringRig.reportTotals(dir)
        #expect(totals.calls == readerCount)
        #expect(MeteringRig.records(dir).count == readerCount)

        let lost = responses - readerCount
        let bound = eventLoops * 256 + 256
        print("meter SIGKILL: \(responses) responses received, \(readerCount) records found, \(lost) lost (bound \(bound)), \(reader.skippedLines) torn line(s) skipped")
        #expect(lost <= bound, "lost \(lost) records of \(responses) responses")
        // Records never exceed what was forwarded (responses plus those in flight at the kill).
        #expect(readerCount <= responses + workers)
        #expect(readerCount <= api.requests.count)
    }

    /// `/metrics` of a process of its own: exact counts for requests by app/route/status,
    /// gate outcomes, the upstream latency histogram, JWKS fetches, meter records written
    /// and open connections.
    @Test func metricsScrapeCountsWhatHappened() async throws {
        let dir = MeteringRig.tempDirectory("meter-metrics")
        defer { MeteringRig.remove(dir) }
        let key = try TestKey.shared(.rsa2048)
        let jwks = try await JWKSServer.start(jwks: String(decoding: TokenFactory.jwksJSON(keys: [key]), as: UTF8.self))
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let yaml = MeteringRig.yaml(api: api.url, dir: dir, fsync: "interval", flushMs: 20).replacingOccurrences(
            of: "      mode: none\n",
            with: "      mode: jwt\n      jwks_url: \(jwks.url)\n      issuer: \(GateRig.issuer)\n      audience: [\(GateRig.audience)]\n"
        )
        let gatehouse = try await GatehouseProcess.start(yaml: yaml, binary: GatehouseProcess.locateBinary())
        defer { gatehouse.kill() }
        let adminPort = try #require(MeteringRig.adminPort(inLog: gatehouse.log))
        #expect(await MeteringRig.eventually { (try? await MeteringRig.get(port: adminPort, "/readyz").status) == 200 })
        let token = TokenFactory.token(key: key, claims: TokenFactory.claims(
            sub: "user_metrics", now: Date().timeIntervalSince1970, ttl: 300, iss: GateRig.issuer, aud: .string(GateRig.audience)))

        // Held open across the scrape: one open connection.
        let held = try await RawConnection.connect(port: gatehouse.port)
        for i in 0..<3 {
            try await held.send("GET /_api/m/\(i) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
            #expect(try await held.readResponse().status == 200)
        }
        #expect(try await MeteringRig.get(port: gatehouse.port, "/_api/m", headers: [("Authorization", "Bearer " + MeteringRig.apiKey)]).status == 200)
        #expect(try await MeteringRig.get(port: gatehouse.port, "/_api/m").status == 401)
        #expect(try await MeteringRig.get(port: gatehouse.port, "/_api/m", headers: [("Authorization", "Bearer x.y.z")]).status == 401)

        // Records are written within the flush interval; poll the scrape until they are.
        var text = ""
        let written = await MeteringRig.eventually {
            text = (try? await MeteringRig.get(port: adminPort, "/metrics").text) ?? ""
            return MeteringRig.metric(text, "gatehouse_meter_records_written_total") == 4
        }
        #expect(written, "\(text)")
        let app = ["app": "app_proc"]
        #expect(MeteringRig.metric(text, "gatehouse_requests_total", app.merging(["route": "api", "status": "2xx"]) { $1 }) == 4)
        #expect(MeteringRig.metric(text, "gatehouse_requests_total", app.merging(["route": "local", "status": "4xx"]) { $1 }) == 2)
        #expect(MeteringRig.metric(text, "gatehouse_gate_decisions_total", app.merging(["outcome": "accepted"]) { $1 }) == 4)
        #expect(MeteringRig.metric(text, "gatehouse_gate_decisions_total", app.merging(["outcome": "missing_token"]) { $1 }) == 1)
        let badToken = ["malformed", "bad_signature", "unknown_key"].map {
            MeteringRig.metric(text, "gatehouse_gate_decisions_total", app.merging(["outcome": $0]) { $1 }) ?? 0
        }
        #expect(badToken.reduce(0, +) == 1, "\(badToken)")
        #expect(MeteringRig.metric(text, "gatehouse_upstream_response_seconds_count", app.merging(["route": "api"]) { $1 }) == 4)
        #expect(MeteringRig.metric(text, "gatehouse_upstream_response_seconds_bucket", app.merging(["route": "api", "le": "+Inf"]) { $1 }) == 4)
        #expect((MeteringRig.metric(text, "gatehouse_jwks_fetches_total", ["result": "ok"]) ?? 0) >= 1)
        #expect(MeteringRig.metric(text, "gatehouse_open_connections") == 1)
        await held.close()

        gatehouse.terminate()
        #expect(await gatehouse.waitForExit() == 0)
        await api.stop()
        await jwks.stop()
        #expect(MeteringRig.records(dir).count == 4)
    }
}
