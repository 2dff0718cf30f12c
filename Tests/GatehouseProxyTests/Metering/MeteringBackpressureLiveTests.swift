import Foundation
import GatehouseCore
import GatehouseTesting
import Testing

/// The writer's backpressure policy end to end: when the meter directory cannot be
/// written, records are kept (never dropped) and, once the queue reaches its high
/// watermark, new `/_api` calls get 503 `metering_unavailable` before being forwarded.
/// When the disk comes back, the kept records are written and admission reopens.
@Suite struct MeteringBackpressureLiveTests {
    @Test func unwritableMeterDirStopsForwardingThenRecovers() async throws {
        let root = MeteringRig.tempDirectory("meter-bp")
        defer { MeteringRig.remove(root) }
        // A regular file where the meter directory's parent should be: mkdir and open
        // fail with ENOTDIR (even for root, unlike a chmod).
        let blocker = root + "/blocked"
        #expect(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
        let dir = blocker + "/meter"

        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(
            appUpstream: "http://127.0.0.1:1", apiUpstream: api.url, auth: MeteringRig.apiKeyAuth
        ) { config in
            MeteringRig.meter(&config, dir: dir, flushMs: 20)
            config.metering.queueHighWatermark = 2
        })
        let writer = gatehouse.instance.meterWriter

        for _ in 0..<2 {
            #expect(try await gatehouse.request("GET", "/_api/before", headers: MeteringRig.bearer).status == 200)
        }
        #expect(api.requests.count == 2)
        // Both records reach the writer (loop flush timer), fail to write, and are kept.
        #expect(await MeteringRig.eventually { writer.isOverloaded })
        #expect(writer.queuedCount == 2)

        let refused = try await gatehouse.request("GET", "/_api/after", headers: MeteringRig.bearer)
        #expect(refused.status == 503)
        #expect(refused.text == #"{"error":"metering_unavailable"}"#)
        #expect(refused.header("Retry-After") != nil)
        // The upstream saw nothing of it.
        #expect(api.requests.count == 2)
        #expect(writer.queuedCount == 2)
        // What an operator's alert reads: the queue at its high watermark.
        let stalled = try await gatehouse.adminRequest("/metrics").text
        #expect(MeteringRig.metric(stalled, "gatehouse_meter_queued_records", [:]) == 2)
        #expect(MeteringRig.metric(stalled, "gatehouse_meter_queued_records_peak", [:]) == 2)
        #expect(MeteringRig.metric(stalled, "gatehouse_meter_queue_high_watermark", [:]) == 2)

        // The disk comes back: the kept records are written on the retry, admission reopens.
        try FileManager.default.removeItem(atPath: blocker)
        #expect(await MeteringRig.eventually { writer.queuedCount == 0 })
        #expect(!writer.isOverloaded)
        // Drained; the peak remembers the stall.
        let drained = try await gatehouse.adminRequest("/metrics").text
        #expect(MeteringRig.metric(drained, "gatehouse_meter_queued_records", [:]) == 0)
        #expect(MeteringRig.metric(drained, "gatehouse_meter_queued_records_peak", [:]) == 2)
        #expect(try await gatehouse.request("GET", "/_api/again", headers: MeteringRig.bearer).status == 200)
        await gatehouse.stop()
        await api.stop()

        let records = MeteringRig.records(dir)
        #expect(records.map { $0.string("path") ?? "" }.sorted() == ["/again", "/before", "/before"])
    }
}
