import GatehouseCore
import GatehouseTesting
import NIOHTTP1
import Testing

/// SPEC "Shape": bodies stream in both directions. Byte-exact through an in-process
/// Gatehouse; the 200 MB, memory-bounded runs are in ``ProcessMemoryTests``.
@Suite struct StreamingTests {
    static let size = 24 << 20

    @Test func chunkedDownloadArrivesByteExact() async throws {
        let api = try await TestHTTPServer.start { _ in .stream(count: Self.size, chunkSize: 50_000, byte: 0xA5) }
        let gatehouse = try await TransportRig.start(api: api.url)
        let response = try await StreamingClient.run(
            port: gatehouse.port, StreamedRequest(.GET, "/_api/download", headers: TransportRig.bearer, expectedByte: 0xA5)
        )
        #expect(response.status == 200)
        #expect(response.complete)
        #expect(response.bodyBytes == Self.size)
        #expect(response.unexpectedBytes == 0)
        await gatehouse.stop()
        await api.stop()
    }

    @Test(arguments: [false, true])
    func uploadArrivesByteExact(chunked: Bool) async throws {
        let api = try await TestHTTPServer.start(expectedBodyByte: 0x5A) { r in .fixed(body: "got \(r.bodyBytes)") }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.maxAPIBodyBytes = 1 << 30 }
        let response = try await StreamingClient.run(
            port: gatehouse.port,
            StreamedRequest(.POST, "/_api/upload", headers: TransportRig.bearer, uploadBytes: Self.size, uploadByte: 0x5A, chunked: chunked)
        )
        #expect(response.status == 200)
        #expect(response.uploadedBytes == Self.size)
        let recorded = try #require(api.requests.first)
        #expect(recorded.bodyBytes == Self.size)
        #expect(recorded.unexpectedBodyBytes == 0)
        #expect(recorded.values("Transfer-Encoding") == (chunked ? ["chunked"] : []))
        await gatehouse.stop()
        await api.stop()
    }

    /// SPEC "Routing": an `/_api` body over `max_api_body_bytes` gets 413 even when its
    /// size is not declared up front (chunked), and the upstream connection it had
    /// started to fill is closed, not pooled.
    @Test func chunkedUploadOverTheLimitIs413() async throws {
        let api = try await TestHTTPServer.start { r in .fixed(body: "got \(r.bodyBytes)") }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.maxAPIBodyBytes = 1 << 20 }
        let response = try await StreamingClient.run(
            port: gatehouse.port,
            StreamedRequest(.POST, "/_api/upload", headers: TransportRig.bearer, uploadBytes: 8 << 20, chunked: true)
        )
        #expect(response.status == 413)
        #expect(api.requests.isEmpty)
        #expect(await TransportRig.eventually { api.connectionCount == 1 && api.closedConnectionCount == 1 })
        // The proxy is still serving.
        let next = try await gatehouse.request("GET", "/_api/after", headers: TransportRig.bearer)
        #expect(next.status == 200)
        await gatehouse.stop()
        await api.stop()
    }
}
