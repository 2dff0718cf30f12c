import Foundation
import GatehouseTesting
import Testing

/// Limits and connection handling (SPEC "Routing"): 431, 413, 408 each close; pipelining
/// keeps order; a local answer to a request with an unread body closes, one without a
/// body keeps the connection.
@Suite struct LimitsTests {
    @Test func oversizedHeadIs431AndClose() async throws {
        let rig = try await GateRig.start { $0.limits.maxHeaderBytes = 2_048 }
        let big = String(repeating: "a", count: 4_096)
        let connection = try await rig.gatehouse.raw("GET /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nX-Big: \(big)\r\n\r\n")
        let response = try await connection.readResponse()
        #expect(response.status == 431)
        #expect(response.text == #"{"error":"request_header_fields_too_large"}"#)
        #expect(response.header("connection") == "close")
        #expect(await connection.waitForClose())
        await connection.close()
        #expect(rig.api.requests.isEmpty)
        // Just under the limit passes.
        let small = try await rig.gatehouse.request("GET", "/page", headers: [("X-Big", String(repeating: "a", count: 1_000))])
        #expect(small.status == 200)
        await rig.stop()
    }

    @Test func declaredAPIBodyOverTheLimitIs413AndClose() async throws {
        let rig = try await GateRig.start { $0.limits.maxAPIBodyBytes = 1_000 }
        let connection = try await rig.gatehouse.raw(
            "POST /_api/upload HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nContent-Length: 1001\r\n\r\n" + String(repeating: "x", count: 100))
        let response = try await connection.readResponse()
        #expect(response.status == 413)
        #expect(response.text == #"{"error":"payload_too_large"}"#)
        #expect(response.header("connection") == "close")
        #expect(await connection.waitForClose())
        await connection.close()
        #expect(rig.api.requests.isEmpty)
        #expect(rig.api.connectionCount == 0)
        // At the limit is fine; the app route has no such limit.
        #expect(try await rig.gatehouse.request("POST", "/_api/upload", headers: Gate.bearer(rig.token()), body: Array(repeating: 0x78, count: 1_000)).status == 200)
        #expect(rig.api.requests.first?.bodyBytes == 1_000)
        #expect(try await rig.gatehouse.request("POST", "/upload", body: Array(repeating: 0x78, count: 5_000)).status == 200)
        await rig.stop()
    }

    @Test func chunkedAPIBodyOverTheLimitIs413AndTheUpstreamConnectionIsNotReused() async throws {
        let rig = try await GateRig.start { config in
            config.limits.maxAPIBodyBytes = 1_000
            config.eventLoops = 1
        }
        // Warm the pool so the oversized request runs on a pooled upstream connection.
        #expect(try await rig.gatehouse.request("GET", "/_api/warm", headers: Gate.bearer(rig.token())).status == 200)
        #expect(rig.api.connectionCount == 1)

        let connection = try await rig.gatehouse.raw(
            "POST /_api/upload HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = "258\r\n" + String(repeating: "y", count: 600) + "\r\n"
        try await connection.send(chunk)
        try await connection.send(chunk)
        // Either a 413 (no response begun) or a plain close; never a 2xx, never kept open.
        if let response = try? await connection.readResponse() {
            #expect(response.status == 413)
            #expect(response.header("connection") == "close")
        }
        #expect(await connection.waitForClose())
        await connection.close()
        #expect(rig.api.requests.map(\.path) == ["/warm"])
        // The upstream connection that carried part of the body is closed, not pooled.
        try await rig.waitUntil { rig.api.closedConnectionCount >= 1 }
        #expect(try await rig.gatehouse.request("GET", "/_api/after", headers: Gate.bearer(rig.token())).status == 200)
        #expect(rig.api.connectionCount == 2)
        #expect(rig.api.requests.map(\.path) == ["/warm", "/after"])
        await rig.stop()
    }

    @Test func stalledHeadGets408ThenClose() async throws {
        // Long enough that even a loaded machine sends the partial head before it expires.
        let rig = try await GateRig.start { $0.limits.clientHeaderTimeoutMs = 1500 }
        let connection = try await RawConnection.connect(port: rig.gatehouse.port)
        // The head's clock runs from the accept: on a machine stalled past it (a fresh CI
        // clone running the whole suite once sent these bytes after the 408 and the close)
        // the send fails, and the answer is the same 408, already read by the connection.
        try? await connection.send("GET /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthori")
        let response = try await connection.readResponse()
        #expect(response.status == 408)
        #expect(response.text == #"{"error":"request_timeout"}"#)
        #expect(response.header("connection") == "close")
        #expect(await connection.waitForClose())
        await connection.close()
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        let connection = try await rig.gatehouse.raw(
            "GET /one HTTP/1.1\r\nHost: g.test\r\n\r\n"
            + "GET /_api/two HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n"
            + "GET /_api/three HTTP/1.1\r\nHost: g.test\r\n\r\n"
            + "POST /four HTTP/1.1\r\nHost: g.test\r\nContent-Length: 2\r\n\r\nhi"
            + "GET /five HTTP/1.1\r\nHost: g.test\r\n\r\n")
        #expect(try await connection.readResponse().text == "app /one")
        #expect(try await connection.readResponse().text == #"{"api":"/two"}"#)
        Gate.expectMissing(try await connection.readResponse())
        #expect(try await connection.readResponse().text == "app /four")
        #expect(try await connection.readResponse().text == "app /five")
        await connection.close()
        #expect(rig.app.requests.map(\.path) == ["/one", "/four", "/five"])
        #expect(rig.api.requests.map(\.path) == ["/two"])
        await rig.stop()
    }

    @Test func rejectionOfARequestWithABodyCloses() async throws {
        let rig = try await GateRig.start()
        let connection = try await rig.gatehouse.raw(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nContent-Length: 5\r\n\r\nhello"
            + "GET /page HTTP/1.1\r\nHost: g.test\r\n\r\n")
        let response = try await connection.readResponse()
        Gate.expectMissing(response)
        #expect(response.header("connection") == "close")
        let rest = try await connection.readUntilClose()
        #expect(rest.isEmpty)
        await connection.close()
        #expect(rig.app.requests.isEmpty)

        // Same with a bad token and a chunked body.
        let chunked = try await rig.gatehouse.raw(
            "POST /_api/x HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer bogus\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        let rejected = try await chunked.readResponse()
        Gate.expectRejected(rejected, "unknown_key")
        #expect(rejected.header("connection") == "close")
        #expect(await chunked.waitForClose())
        await chunked.close()
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }

    @Test func rejectionOfABodilessRequestKeepsTheConnection() async throws {
        let rig = try await GateRig.start()
        let connection = try await rig.gatehouse.raw("GET /_api/x HTTP/1.1\r\nHost: g.test\r\n\r\n")
        let first = try await connection.readResponse()
        Gate.expectMissing(first)
        #expect(first.header("connection") != "close")
        try await connection.send("GET /_api/y HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\n\r\n")
        #expect(try await connection.readResponse().status == 200)
        try await connection.send("GET /_api/z HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer nope\r\n\r\n")
        Gate.expectRejected(try await connection.readResponse(), "unknown_key")
        try await connection.send("GET /page HTTP/1.1\r\nHost: g.test\r\n\r\n")
        #expect(try await connection.readResponse().text == "app /page")
        await connection.close()
        #expect(rig.api.requests.map(\.path) == ["/y"])
        await rig.stop()
    }

    @Test func upstreamFailureKeepsAKeptAliveClientConnectionUsable() async throws {
        // A 502 after the whole request was read leaves the client connection ready for
        // the next request (not stuck waiting for an end it already consumed).
        let rig = try await GateRig.start(apiResponder: { r in r.path == "/broken" ? .close : .fixed(body: "ok") })
        let token = rig.token()
        let connection = try await rig.gatehouse.raw("POST /_api/broken HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\nContent-Length: 2\r\n\r\nhi")
        let failed = try await connection.readResponse()
        #expect(failed.status == 502)
        #expect(failed.text == #"{"error":"bad_gateway"}"#)
        try await connection.send("GET /_api/fine HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(token)\r\n\r\n")
        let next = try await connection.readResponse(timeout: .seconds(5))
        #expect(next.status == 200)
        await connection.close()
        await rig.stop()
    }
}
