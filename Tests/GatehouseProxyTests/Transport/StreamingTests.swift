import Foundation
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

    /// A client that stops reading mid-download is closed once it has taken nothing for
    /// `idle_timeout_ms` (nginx's `send_timeout`), and the upstream connection paused
    /// behind it with it; without that both stay open for good.
    @Test func aClientThatStopsReadingIsClosedAfterTheIdleTimeout() async throws {
        let size = 256 << 20
        let api = try await TestHTTPServer.start { r in
            r.uri.hasSuffix("/download") ? .stream(count: size, chunkSize: 64 << 10, byte: 0xA5) : .fixed(body: "ok")
        }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.idleTimeoutMs = 300 }
        let socket = try BlockingClientSocket(port: gatehouse.port, receiveBuffer: 16 << 10)
        defer { socket.close() }
        let request = "GET /_api/download HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer \(TransportRig.apiKey)\r\n\r\n"
        #expect(socket.writeAll(Array(request.utf8)))
        // The client reads nothing: the transfer stalls on backpressure, then both connections go.
        #expect(await TransportRig.eventually { api.connectionCount == 1 && api.closedConnectionCount == 1 })
        // What reached the client ends there, far short of the body.
        var received = 0
        while let chunk = socket.read(max: 1 << 20) { received += chunk.count }
        #expect(received > 0 && received < size / 4)
        // The proxy is still serving.
        #expect(try await gatehouse.request("GET", "/_api/after", headers: TransportRig.bearer).status == 200)
        await gatehouse.stop()
        await api.stop()
    }

    /// A client that declares a body and stops sending it is closed once it has sent
    /// nothing for `idle_timeout_ms` while Gatehouse waited (nginx's `client_body_timeout`),
    /// and the upstream connection the body was streaming into goes with it; without
    /// that both stay open for good.
    @Test func aClientThatStopsSendingItsBodyIsClosedAfterTheIdleTimeout() async throws {
        let api = try await TestHTTPServer.start { r in .fixed(body: "got \(r.bodyBytes)") }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.idleTimeoutMs = 300 }
        let socket = try BlockingClientSocket(port: gatehouse.port, receiveBuffer: 64 << 10, readTimeout: 15)
        defer { socket.close() }
        let head = "POST /_api/upload HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer \(TransportRig.apiKey)\r\nContent-Length: 1000\r\n\r\n"
        #expect(socket.writeAll(Array(head.utf8) + [UInt8](repeating: 0x5A, count: 10)))
        // The upstream exchange starts with the first bytes, then the client goes quiet.
        #expect(await TransportRig.eventually { api.connectionCount == 1 && api.closedConnectionCount == 1 })
        #expect(socket.read(max: 4096) == nil)
        #expect(api.requests.isEmpty)
        await gatehouse.stop()
        await api.stop()
    }

    /// The body wait restarts with every byte: a slow but steady upload outlasting
    /// `idle_timeout_ms` in total goes through whole.
    @Test func aSlowButSteadyBodyGoesThrough() async throws {
        let api = try await TestHTTPServer.start(expectedBodyByte: 0x5A) { r in .fixed(body: "got \(r.bodyBytes)") }
        let gatehouse = try await TransportRig.start(api: api.url) { $0.limits.idleTimeoutMs = 1_000 }
        let socket = try BlockingClientSocket(port: gatehouse.port, receiveBuffer: 64 << 10, readTimeout: 15)
        defer { socket.close() }
        let chunks = 40
        let head = "POST /_api/upload HTTP/1.1\r\nHost: gatehouse.test\r\nAuthorization: Bearer \(TransportRig.apiKey)\r\nContent-Length: \(chunks * 25)\r\nConnection: close\r\n\r\n"
        #expect(socket.writeAll(Array(head.utf8)))
        // 40 pieces 50 ms apart: two seconds in all, never more than a twentieth of the
        // timeout between two pieces. A thread of its own paces them.
        let sender = Thread {
            for _ in 0..<chunks {
                usleep(50_000)
                guard socket.writeAll([UInt8](repeating: 0x5A, count: 25)) else { return }
            }
        }
        sender.start()
        var response: [UInt8] = []
        while let chunk = socket.read(max: 4096) { response += chunk }
        let text = String(decoding: response, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200"), "\(text)")
        #expect(text.hasSuffix("got 1000"))
        let recorded = try #require(api.requests.first)
        #expect(recorded.bodyBytes == 1000)
        #expect(recorded.unexpectedBodyBytes == 0)
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
