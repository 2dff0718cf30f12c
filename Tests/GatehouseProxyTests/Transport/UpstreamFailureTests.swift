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

    // MARK: - An upstream that stops mid-exchange (nginx's proxy_send/read_timeout)

    /// An upstream that stops reading the body it is sent fills its buffers and
    /// Gatehouse's, so Gatehouse stops reading the client too; after
    /// `upstream_response_timeout_ms` without the upstream taking a byte it is given up
    /// on with a 504. Without that the client and the upstream connection are held for good.
    @Test func anUpstreamThatStopsTakingTheBodyIs504() async throws {
        let neverRead = TestGate()
        let api = try await TestHTTPServer.start(readGate: neverRead) { _ in .fixed(body: "read it all") }
        let gatehouse = try await TransportRig.start(api: api.url) {
            $0.limits.upstreamResponseTimeoutMs = 300
            $0.limits.maxAPIBodyBytes = 1 << 30
        }
        let size = 256 << 20
        let response = try await StreamingClient.run(
            port: gatehouse.port, StreamedRequest(.POST, "/_api/upload", headers: TransportRig.bearer, uploadBytes: size),
            timeout: .seconds(20)
        )
        #expect(response.status == 504)
        #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)
        #expect(response.uploadedBytes < size)
        // Reading again, the upstream finds the connection closed short of the body.
        neverRead.open()
        #expect(await TransportRig.eventually { api.connectionCount == 1 && api.closedConnectionCount == 1 })
        #expect(api.requests.isEmpty)
        await gatehouse.stop()
        await api.stop()
    }

    /// An upstream that sends part of a response and then nothing is given up on after
    /// `upstream_response_timeout_ms` without a byte: the client, which already has the
    /// head, sees the response cut (closed short of its `Content-Length`), as from nginx.
    @Test func anUpstreamThatStopsMidResponseIsCutAfterTheTimeout() async throws {
        let api = try await TestHTTPServer.start { _ in .partial(declared: 100_000, sent: 1_000) }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.upstreamResponseTimeoutMs = 300 }
        let response = try await StreamingClient.run(
            port: gatehouse.port, StreamedRequest(.GET, "/_api/partial", headers: TransportRig.bearer), timeout: .seconds(20)
        )
        #expect(response.status == 200)
        #expect(!response.complete)
        #expect(response.bodyBytes == 1_000)
        #expect(await TransportRig.eventually { api.connectionCount == 1 && api.closedConnectionCount == 1 })
        await gatehouse.stop()
        await api.stop()
    }

    /// The wait restarts with every piece: a slow but steady response outlasting the
    /// timeout in total arrives whole.
    @Test func aSlowButSteadyResponseArrivesWhole() async throws {
        let api = try await TestHTTPServer.start { _ in .trickle(pieces: 30, pieceBytes: 100, interval: .milliseconds(50), byte: 0xA5) }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.upstreamResponseTimeoutMs = 1_000 }
        let response = try await StreamingClient.run(
            port: gatehouse.port, StreamedRequest(.GET, "/_api/trickle", headers: TransportRig.bearer, expectedByte: 0xA5),
            timeout: .seconds(20)
        )
        #expect(response.status == 200)
        #expect(response.complete)
        #expect(response.bodyBytes == 3_000)
        #expect(response.unexpectedBytes == 0)
        await gatehouse.stop()
        await api.stop()
    }

    /// While the client is the one not taking bytes, Gatehouse holds the upstream back and
    /// does not count that against it: a client pausing far longer than the timeout gets
    /// the whole response once it reads again (the client's own limit is `idle_timeout_ms`).
    @Test func aClientPausingLongerThanTheTimeoutDoesNotCutTheUpstream() async throws {
        let size = 32 << 20
        let api = try await TestHTTPServer.start { _ in .stream(count: size, byte: 0xA5) }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.upstreamResponseTimeoutMs = 300 }
        let clientGate = TestGate()
        let received = StreamingProgress()
        let port = gatehouse.port
        let downloading = Task {
            try await StreamingClient.run(port: port, StreamedRequest(
                .GET, "/_api/download", headers: TransportRig.bearer, expectedByte: 0xA5,
                pauseAfterBytes: 1 << 20, readGate: clientGate, progress: received
            ), timeout: .seconds(30))
        }
        #expect(await TransportRig.eventually { received.receivedBytes >= 1 << 20 })
        let stalledAt = await TransportRig.settled { api.streamedBytes }
        #expect(stalledAt < size)
        // Three timeouts' worth of pause: this creates the condition, it times nothing.
        try await Task.sleep(for: .milliseconds(900))
        clientGate.open()
        let response = try await downloading.value
        #expect(response.status == 200)
        #expect(response.complete)
        #expect(response.bodyBytes == size)
        #expect(response.unexpectedBytes == 0)
        await gatehouse.stop()
        await api.stop()
    }
}
