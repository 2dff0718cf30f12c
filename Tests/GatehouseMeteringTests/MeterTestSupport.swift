import Foundation
import GatehouseCore
import GatehouseMetering
import Logging

enum MeterTestSupport {
    static func tempDirectory() -> String {
        let path = NSTemporaryDirectory() + "gatehouse-meter-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func record(
        _ ts: String, org: String = "org_a", app: String = "app_a", user: String = "u1", path: String = "/v1/x",
        status: Int = 200, req: Int = 10, resp: Int = 100, duration: Double = 5, outcome: MeterRecord.Outcome = .ok, id: String = "r"
    ) -> MeterRecord {
        MeterRecord(timestampMs: UTCTimestamp.parse(ts) ?? 0, org: org, app: app, user: user, method: "GET", path: path,
                    status: status, requestBytes: req, responseBytes: resp, durationMs: duration, requestID: RequestID(id), outcome: outcome)
    }

    static func writer(_ dir: String, fsync: MeteringConfiguration.Fsync = .always, instance: String = "test-1", highWatermark: Int = 100_000) -> MeterWriter {
        var config = MeteringConfiguration()
        config.dir = dir
        config.fsync = fsync
        config.flushIntervalMs = 20
        return MeterWriter(configuration: config, instance: instance, highWatermark: highWatermark, logger: Logger(label: "meter-test"))
    }

    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}
