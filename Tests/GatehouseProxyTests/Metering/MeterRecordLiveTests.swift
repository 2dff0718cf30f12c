import Foundation
import GatehouseCore
import GatehouseMetering
import GatehouseTesting
import Testing

/// SPEC "Metering": one JSON Lines record per forwarded `/_api` request, written after
/// its response ends or fails, with every field, in `<dir>/<org>/<day>.<instance>.jsonl`.
/// Each test stops Gatehouse before reading the files: graceful shutdown hands over and
/// flushes every record, so what is read is final (no timing involved).
@Suite struct MeterRecordLiveTests {
    static let fieldOrder = ["ts", "org", "app", "user", "method", "path", "status", "req_bytes", "resp_bytes", "duration_ms", "request_id", "outcome"]

    @Test func forwardedCallWritesOneCompleteRecord() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let responseBody = #"{"hits":[1,2,3]}"#
        let appID = MeteringRig.uniqueAppID("app_rec")
        let rig = try await GateRig.start(apiResponder: { _ in .fixed(body: responseBody) }) { config in
            config.apps[0].id = appID
            config.apps[0].org = "org_rec"
            MeteringRig.meter(&config, dir: dir)
        }
        let token = rig.token(sub: "user_rec_1")
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let response = try await rig.gatehouse.request(
            "POST", "/_api/v1/retrievers/search?q=private&page=2",
            headers: [("Authorization", "Bearer " + token)], body: Array("abcdefg".utf8)
        )
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(response.status == 200)
        #expect(response.text == responseBody)
        await rig.stop()

        let records = MeteringRig.records(dir)
        try #require(records.count == 1, "records: \(records)")
        let r = records[0]
        let ts = try #require(r.string("ts"))
        #expect(ts.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "ts \(ts)")
        let tsMs = try #require(UTCTimestamp.parse(ts))
        #expect(tsMs >= before - 1 && tsMs <= after + 1, "ts \(ts) outside the request's time")
        #expect(r.string("org") == "org_rec")
        #expect(r.string("app") == appID)
        #expect(r.string("user") == "user_rec_1")
        #expect(r.string("method") == "POST")
        // After strip_prefix, without the query.
        #expect(r.string("path") == "/v1/retrievers/search")
        #expect(r.int("status") == 200)
        #expect(r.int("req_bytes") == 7)
        #expect(r.int("resp_bytes") == responseBody.utf8.count)
        let duration = try #require(r.double("duration_ms"))
        #expect(duration >= 0 && duration < 15_000)
        let upstreamID = try #require(rig.api.requests.first?.headers.first(name: "X-Request-Id"))
        #expect(!upstreamID.isEmpty)
        #expect(r.string("request_id") == upstreamID)
        #expect(r.string("outcome") == "ok")

        // The file is <dir>/<org>/<UTC day of ts>.<instance>.jsonl; fields in SPEC order.
        let expectedFile = dir + "/org_rec/" + UTCTimestamp.day(milliseconds: tsMs) + ".itest.jsonl"
        #expect(MeteringRig.files(dir) == [expectedFile])
        let line = try String(contentsOfFile: expectedFile, encoding: .utf8)
        #expect(line.hasSuffix("}\n"))
        let keyPositions = Self.fieldOrder.map { line.range(of: "\"\($0)\":")?.lowerBound }
        #expect(!keyPositions.contains(nil))
        #expect(keyPositions.compactMap { $0 } == keyPositions.compactMap { $0 }.sorted())

        // Never the owner key, the client's token or the query.
        let text = MeteringRig.allText(dir)
        #expect(!text.contains(TestGatehouse.ownerKey))
        #expect(!text.contains(token))
        #expect(!text.contains(String(token.split(separator: ".")[2])))
        #expect(!text.contains("private"))
        // The upstream did get the owner key (so the check above means something).
        #expect(rig.api.requests.first?.headers.first(name: "Authorization")?.contains(TestGatehouse.ownerKey) == true)
    }

    @Test func everyForwardedCallIsBilledOnceAcrossKeepAlive() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let api = try await TestHTTPServer.start { r in .fixed(body: "ok " + r.path) }
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: "http://127.0.0.1:1", apiUpstream: api.url, auth: MeteringRig.apiKeyAuth
        ) { MeteringRig.meter(&$0, dir: dir) })
        let connection = try await RawConnection.connect(port: gatehouse.port)
        for i in 0..<20 {
            try await connection.send("GET /_api/item/\(i) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(MeteringRig.apiKey)\r\n\r\n")
            let response = try await connection.readResponse()
            #expect(response.status == 200)
        }
        await connection.close()
        await gatehouse.stop()
        await api.stop()

        let records = MeteringRig.records(dir)
        #expect(records.count == 20)
        #expect(Set(records.compactMap { $0.string("path") }) == Set((0..<20).map { "/item/\($0)" }))
        #expect(Set(records.compactMap { $0.string("request_id") }).count == 20)
        #expect(records.allSatisfy { $0.string("user") == "service:meter" && $0.string("outcome") == "ok" })
        #expect(Set(records.compactMap { $0.string("request_id") }) == Set(api.requests.compactMap { $0.headers.first(name: "X-Request-Id") }))
        let totals = try MeteringRig.reportTotals(dir)
        #expect(totals.calls == 20)
        #expect(totals.skipped == 0)
    }

    @Test func upstreamDownIsBilledAs502UpstreamError() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        // Nothing listens on this socket path (a freed TCP port could be taken by a
        // concurrent test's server).
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: "http://127.0.0.1:1", apiUpstream: "unix:" + dir + "/nobody-listens.sock", auth: MeteringRig.apiKeyAuth
        ) { MeteringRig.meter(&$0, dir: dir + "/meter") })
        let response = try await gatehouse.request("GET", "/_api/down", headers: MeteringRig.bearer)
        #expect(response.status == 502)
        #expect(response.text == #"{"error":"bad_gateway"}"#)
        await gatehouse.stop()

        let records = MeteringRig.records(dir + "/meter")
        try #require(records.count == 1, "records: \(records)")
        #expect(records[0].int("status") == 502)
        #expect(records[0].string("outcome") == "upstream_error")
        #expect(records[0].string("path") == "/down")
        #expect(records[0].int("resp_bytes") == 0)
    }

    @Test func upstreamHangingIsBilledAs504UpstreamError() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let api = try await TestHTTPServer.start { _ in .hang }
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: "http://127.0.0.1:1", apiUpstream: api.url, auth: MeteringRig.apiKeyAuth
        ) { config in
            MeteringRig.meter(&config, dir: dir)
            config.limits.upstreamResponseTimeoutMs = 300
        })
        let response = try await gatehouse.request("GET", "/_api/slow", headers: MeteringRig.bearer)
        #expect(response.status == 504)
        await gatehouse.stop()
        await api.stop()

        let records = MeteringRig.records(dir)
        try #require(records.count == 1, "records: \(records)")
        #expect(records[0].int("status") == 504)
        #expect(records[0].string("outcome") == "upstream_error")
        #expect(records[0].string("request_id") == api.requests.first?.headers.first(name: "X-Request-Id"))
        #expect((records[0].double("duration_ms") ?? 0) >= 300)
    }

    /// An upstream that stops mid-response is cut after `upstream_response_timeout_ms`:
    /// billed once, as an upstream error with the status the client got and the bytes that
    /// reached it.
    @Test func upstreamStallingMidResponseIsBilledAsUpstreamErrorWithItsStatus() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let api = try await TestHTTPServer.start { _ in .partial(declared: 10_000, sent: 1_000) }
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: "http://127.0.0.1:1", apiUpstream: api.url, auth: MeteringRig.apiKeyAuth
        ) { config in
            MeteringRig.meter(&config, dir: dir)
            config.limits.upstreamResponseTimeoutMs = 300
        })
        let result = try await StreamingClient.run(
            port: gatehouse.port, StreamedRequest(.GET, "/_api/stalls", headers: MeteringRig.bearer), timeout: .seconds(20)
        )
        #expect(result.status == 200 && !result.complete && result.bodyBytes == 1_000)
        await gatehouse.stop()
        await api.stop()

        let record = try MeteringRig.onlyRecord(dir)
        #expect(record.string("outcome") == "upstream_error")
        #expect(record.int("status") == 200)
        #expect(record.int("resp_bytes") == 1_000)
        #expect((record.double("duration_ms") ?? 0) >= 300)
    }

    /// An upstream that stops taking the body it is sent gets the client a 504, billed as such.
    @Test func upstreamNotTakingTheBodyIsBilledAs504() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let neverRead = TestGate()
        let api = try await TestHTTPServer.start(readGate: neverRead) { _ in .fixed(body: "read it all") }
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: "http://127.0.0.1:1", apiUpstream: api.url, auth: MeteringRig.apiKeyAuth
        ) { config in
            MeteringRig.meter(&config, dir: dir)
            config.limits.upstreamResponseTimeoutMs = 300
            config.limits.maxAPIBodyBytes = 1 << 30
        })
        let result = try await StreamingClient.run(
            port: gatehouse.port, StreamedRequest(.POST, "/_api/upload", headers: MeteringRig.bearer, uploadBytes: 256 << 20),
            timeout: .seconds(20)
        )
        #expect(result.status == 504)
        neverRead.open()
        await gatehouse.stop()
        await api.stop()

        let record = try MeteringRig.onlyRecord(dir)
        #expect(record.int("status") == 504)
        #expect(record.string("outcome") == "upstream_error")
        let sent = try #require(record.int("req_bytes"))
        #expect(sent > 0 && sent < 256 << 20, "req_bytes \(sent)")
    }

    @Test func clientLeavingMidResponseIsBilledAsClientAbortWithUpstreamStatus() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let total = 256 << 20
        let api = try await TestHTTPServer.start { _ in .stream(status: .ok, count: total) }
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: "http://127.0.0.1:1", apiUpstream: api.url, auth: MeteringRig.apiKeyAuth
        ) { MeteringRig.meter(&$0, dir: dir) })
        let progress = StreamingProgress()
        let result = try await StreamingClient.run(port: gatehouse.port, StreamedRequest(
            .GET, "/_api/big", headers: MeteringRig.bearer, abortAfterBytes: 1 << 20, progress: progress
        ))
        #expect(!result.complete)
        #expect(result.status == 200)
        await gatehouse.stop()
        await api.stop()

        let records = MeteringRig.records(dir)
        try #require(records.count == 1, "records: \(records)")
        #expect(records[0].string("outcome") == "client_abort")
        #expect(records[0].int("status") == 200)
        let sent = try #require(records[0].int("resp_bytes"))
        // What went towards the client: at least what it read, far from the whole body.
        #expect(sent >= result.bodyBytes)
        #expect(sent < total / 2, "resp_bytes \(sent) of \(total)")
    }

    @Test func clientLeavingBeforeAnyResponseIsBilledAs499() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let gate = TestGate()
        let api = try await TestHTTPServer.start { _ in .gated(gate, then: .fixed(body: "late")) }
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: "http://127.0.0.1:1", apiUpstream: api.url, auth: MeteringRig.apiKeyAuth
        ) { MeteringRig.meter(&$0, dir: dir) })
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send("GET /_api/wait HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(MeteringRig.apiKey)\r\n\r\n")
        #expect(await MeteringRig.eventually { api.requests.count == 1 })
        await connection.close()
        await gatehouse.stop()
        gate.open()
        await api.stop()

        let records = MeteringRig.records(dir)
        try #require(records.count == 1, "records: \(records)")
        #expect(records[0].string("outcome") == "client_abort")
        #expect(records[0].int("status") == 499)
        #expect(records[0].int("resp_bytes") == 0)
        #expect(records[0].string("path") == "/wait")
    }

    @Test func appRouteAndLocalEndpointsAreNotBilled() async throws {
        let dir = MeteringRig.tempDirectory()
        defer { MeteringRig.remove(dir) }
        let upstream = try await TestHTTPServer.start { r in .fixed(body: "up " + r.path) }
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: upstream.url, apiUpstream: upstream.url, auth: MeteringRig.apiKeyAuth
        ) { MeteringRig.meter(&$0, dir: dir) })
        #expect(try await gatehouse.request("GET", "/index.html").status == 200)
        #expect(try await gatehouse.request("GET", "/_api/billed", headers: MeteringRig.bearer).status == 200)
        await gatehouse.stop()
        await upstream.stop()
        let records = MeteringRig.records(dir)
        #expect(records.count == 1)
        #expect(records.first?.string("path") == "/billed")
    }
}
