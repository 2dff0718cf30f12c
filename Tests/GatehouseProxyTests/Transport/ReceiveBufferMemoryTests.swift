import Foundation
import GatehouseTesting
import Testing

/// What one large transfer leaves behind on a connection that stays open. NIO keeps each
/// channel's receive buffers (up to `maxMessagesPerRead` of them, each grown to up to
/// 64 KB) for the channel's life and never shrinks them, so before this bound a client that
/// uploaded 1 MB and then idled held ~500 KB of Gatehouse's memory per kept-alive connection
/// (16 buffers), and every pooled upstream connection that had carried a large response
/// ~250 KB (4) — memory any signed-in user could pin by opening connections. Runs the real
/// `gatehouse serve` binary and reads its resident set from `/proc`.
@Suite(.serialized) struct ReceiveBufferMemoryTests {
    static let connections = 32
    static let transferBytes = 1 << 20
    /// One receive buffer of at most 64 KB per channel, the connection's other state and
    /// the allocator's slack; the sixteen (or four) buffers kept before were 250–770 KB.
    static let perConnectionLimit = 160 << 10

    static func yaml(upstream: String) -> String {
        """
        listen: 127.0.0.1:0
        admin_listen: 127.0.0.1:0
        event_loops: 1
        limits:
          max_api_body_bytes: 16777216
        metering:
          dir: ./meter
        apps:
          - id: app_buffers
            org: org_buffers
            upstream: \(upstream)
            api:
              upstream: \(upstream)/api
              owner_key: sk_owner_buffers
            auth:
              mode: none
              api_keys:
                - name: buffers
                  sha256: \(TransportRig.apiKeyHash)
        """
    }

    /// Opens `connections` connections and sends a request on each as it opens (so that
    /// every exchange is in flight together and each has its own upstream connection),
    /// then reads every response and keeps the connections open.
    static func transfer(port: Int, head: String, body: [UInt8]) async throws -> [RawConnection] {
        var opened: [RawConnection] = []
        for _ in 0..<connections {
            let connection = try await RawConnection.connect(port: port)
            opened.append(connection)
            try await connection.send(Array(head.utf8) + body)
        }
        for connection in opened {
            let response = try await connection.readResponse(timeout: .seconds(30))
            #expect(response.status == 200)
            #expect(response.body.count == (body.isEmpty ? transferBytes : 2))
        }
        return opened
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "reads /proc"))
    func aLargeTransferLeavesOneReceiveBufferPerConnection() async throws {
        let upstream = try await TestHTTPServer.start { request in
            request.method == .POST ? .fixed(body: "ok") : .stream(count: Self.transferBytes, byte: 0x42)
        }
        let gatehouse = try await GatehouseProcess.start(yaml: Self.yaml(upstream: upstream.url), binary: GatehouseProcess.locateBinary())
        defer { gatehouse.kill() }
        let authorization = "Authorization: Bearer \(TransportRig.apiKey)\r\n"

        // A warm-up exchange on each of as many connections, so that what is measured next
        // is what the transfers leave, not the first connections' one-time costs.
        var open = try await Self.transfer(port: gatehouse.port, head: "POST /_api/up HTTP/1.1\r\nHost: t\r\n\(authorization)Content-Length: 2\r\n\r\n", body: Array("{}".utf8))
        for connection in open { await connection.close() }
        let before = try #require(gatehouse.memoryStatus("VmRSS"))

        // Client side: each connection uploads 1 MB at once, then idles.
        let upload = [UInt8](repeating: 0x5A, count: Self.transferBytes)
        open = try await Self.transfer(
            port: gatehouse.port, head: "POST /_api/up HTTP/1.1\r\nHost: t\r\n\(authorization)Content-Length: \(upload.count)\r\n\r\n", body: upload
        )
        let afterUploads = try #require(gatehouse.memoryStatus("VmRSS"))

        // Upstream side: each of as many upstream connections carries a 1 MB response, then
        // waits in the pool.
        let downloads = try await Self.transfer(port: gatehouse.port, head: "GET /_api/down HTTP/1.1\r\nHost: t\r\n\(authorization)\r\n", body: [])
        let afterDownloads = try #require(gatehouse.memoryStatus("VmRSS"))

        let perUpload = (afterUploads - before) / Self.connections
        let perDownload = (afterDownloads - afterUploads) / Self.connections
        print("resident set: \(before >> 10) kB, +\(perUpload >> 10) kB per connection after a 1 MB upload, "
              + "+\(perDownload >> 10) kB per upstream connection after a 1 MB response")
        #expect(perUpload < Self.perConnectionLimit, "\(perUpload >> 10) kB kept per connection after an upload")
        #expect(perDownload < Self.perConnectionLimit, "\(perDownload >> 10) kB kept per connection after a download")

        for connection in open + downloads { await connection.close() }
        gatehouse.terminate()
        #expect(await gatehouse.waitForExit() == 0)
        await upstream.stop()
    }
}
