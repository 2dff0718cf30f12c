import GatehouseCore
import GatehouseTesting
import Testing

/// SPEC "The /_api gate": upstream unreachable → 502 `bad_gateway`, timed out → 504
/// `gateway_timeout`.
@Suite struct UpstreamFailureTests {
    @Test func nothingListeningIs502() async throws {
        // Port 1 (tcpmux): nothing listens there, and no concurrent test can take it.
        let gatehouse = try await TransportRig.start(api: "http://127.0.0.1:1")
        let response = try await gatehouse.request("GET", "/_api/x", headers: TransportRig.bearer)
        #expect(response.status == 502)
        #expect(response.text == #"{"error":"bad_gateway"}"#)
        #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)
        await gatehouse.stop()
    }

    @Test func upstreamClosingWithoutAnAnswerIs502() async throws {
        let api = try await TestHTTPServer.start { _ in .close }
        let gatehouse = try await TransportRig.start(api: api.url)
        let response = try await gatehouse.request("GET", "/_api/x", headers: TransportRig.bearer)
        #expect(response.status == 502)
        #expect(response.text == #"{"error":"bad_gateway"}"#)
        #expect(api.requests.count == 1)
        await gatehouse.stop()
        await api.stop()
    }

    @Test func upstreamNotAnsweringInTimeIs504() async throws {
        let api = try await TestHTTPServer.start { _ in .hang }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.upstreamResponseTimeoutMs = 300 }
        let response = try await gatehouse.request("GET", "/_api/x", headers: TransportRig.bearer)
        #expect(response.status == 504)
        #expect(response.text == #"{"error":"gateway_timeout"}"#)
        // The hung connection is not kept for reuse.
        #expect(await TransportRig.eventually { api.closedConnectionCount == 1 })
        await gatehouse.stop()
        await api.stop()
    }

    /// One timer serves a kept-alive connection's exchanges: answered requests leave it
    /// armed for their (earlier) deadlines, and a later request that hangs still gets its
    /// 504 when its own deadline passes.
    @Test func aLaterRequestOnAKeptAliveConnectionStillTimesOut() async throws {
        let api = try await TestHTTPServer.start { r in r.path.hasSuffix("/slow") ? .hang : .fixed(body: "fast") }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.upstreamResponseTimeoutMs = 400 }
        let connection = try await RawConnection.connect(port: gatehouse.port)
        let bearer = TransportRig.bearer.map { "\($0.0): \($0.1)\r\n" }.joined()
        for i in 0..<5 {
            try await connection.send("GET /_api/fast/\(i) HTTP/1.1\r\nHost: g.test\r\n\(bearer)\r\n")
            #expect(try await connection.readResponse().status == 200)
        }
        try await connection.send("GET /_api/slow HTTP/1.1\r\nHost: g.test\r\n\(bearer)\r\n")
        let response = try await connection.readResponse()
        #expect(response.status == 504)
        #expect(response.text == #"{"error":"gateway_timeout"}"#)
        await connection.close()
        await gatehouse.stop()
        await api.stop()
    }
}
