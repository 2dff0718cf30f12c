import Foundation
import GatehouseTesting
import NIOHTTP1
import Testing

/// SPEC "Shape": streaming with backpressure, so a transfer of any size passes through
/// in bounded memory. Runs the real `gatehouse serve` binary (built by `swift build`;
/// `swift test` builds it too) and reads its peak RSS (`VmHWM`) from `/proc/<pid>/status`.
///
/// Each direction first stalls one side — a client that stops reading, an upstream
/// that stops reading — and checks that the other side is held back too (Gatehouse
/// stopped reading instead of buffering), then lets the 200 MB finish byte-exact.
@Suite struct ProcessMemoryTests {
    static let size = 200 << 20
    static let peakLimit = 64 << 20

    static func yaml(app: String, api: String) -> String {
        """
        listen: 127.0.0.1:0
        admin_listen: 127.0.0.1:0
        event_loops: 1
        drain_timeout_ms: 10000
        limits:
          max_api_body_bytes: 1073741824
        metering:
          dir: ./meter
        apps:
          - id: app_transport
            org: org_transport
            upstream: \(app)
            api:
              upstream: \(api)
              owner_key: sk_owner_transport
            auth:
              mode: none
              api_keys:
                - name: transport
                  sha256: \(TransportRig.apiKeyHash)
        """
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "reads /proc"))
    func twoHundredMegabytesEachWayInBoundedMemory() async throws {
        let download = try await TestHTTPServer.start { _ in .stream(count: Self.size, byte: 0xA5) }
        let uploadGate = TestGate()
        let upload = try await TestHTTPServer.start(expectedBodyByte: 0x5A, readGate: uploadGate) { r in .fixed(body: "got \(r.bodyBytes)") }
        let gatehouse = try await GatehouseProcess.start(
            yaml: Self.yaml(app: upload.url, api: download.url), binary: GatehouseProcess.locateBinary()
        )
        defer { gatehouse.kill() }
        let port = gatehouse.port
        let startRSS = gatehouse.peakRSS ?? 0

        // Download through /_api; the client stops reading after 1 MiB.
        let clientGate = TestGate()
        let received = StreamingProgress()
        let downloading = Task {
            try await StreamingClient.run(port: port, StreamedRequest(
                .GET, "/_api/download", headers: TransportRig.bearer, expectedByte: 0xA5,
                pauseAfterBytes: 1 << 20, readGate: clientGate, progress: received
            ))
        }
        #expect(await TransportRig.eventually { received.receivedBytes >= 1 << 20 })
        let sentWhileClientStalled = await TransportRig.settled { download.streamedBytes }
        #expect(sentWhileClientStalled < Self.size / 4, "upstream got \(sentWhileClientStalled >> 20) MB out while the client read nothing")
        clientGate.open()
        let downloaded = try await downloading.value
        #expect(downloaded.status == 200)
        #expect(downloaded.complete)
        #expect(downloaded.bodyBytes == Self.size)
        #expect(downloaded.unexpectedBytes == 0)
        #expect(download.streamedBytes == Self.size)

        // Upload through the app route; the upstream reads nothing at first.
        let sent = StreamingProgress()
        let uploading = Task {
            try await StreamingClient.run(port: port, StreamedRequest(
                .POST, "/upload", uploadBytes: Self.size, uploadByte: 0x5A, progress: sent
            ))
        }
        let sentWhileUpstreamStalled = await TransportRig.settled { sent.uploadedBytes }
        #expect(sentWhileUpstreamStalled < Self.size / 4, "client got \(sentWhileUpstreamStalled >> 20) MB out while the upstream read nothing")
        uploadGate.open()
        let uploaded = try await uploading.value
        #expect(uploaded.status == 200)
        #expect(uploaded.uploadedBytes == Self.size)
        let recorded = try #require(upload.requests.first)
        #expect(recorded.bodyBytes == Self.size)
        #expect(recorded.unexpectedBodyBytes == 0)

        let peak = try #require(gatehouse.peakRSS)
        print("gatehouse VmHWM: \(startRSS >> 10) kB after start, \(peak >> 10) kB after 200 MB down + 200 MB up "
              + "(held back at \(sentWhileClientStalled >> 10) kB down / \(sentWhileUpstreamStalled >> 10) kB up while one side stalled)")
        #expect(peak < Self.peakLimit, "peak RSS \(peak >> 20) MB")

        gatehouse.terminate()
        #expect(await gatehouse.waitForExit() == 0)
        await download.stop()
        await upload.stop()
    }
}
