import ArgumentParser
import Foundation
import GatehouseCore
import GatehouseMetering

extension Meter {
    /// `gatehouse meter generate` (hidden): synthetic meter logs for benchmarking
    /// `meter report` (scripts/meter-bench.sh). Lines are written by the writer's own
    /// serialiser (`MeterRecord.appendJSONLine`), spread over orgs, days and instances.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write synthetic meter logs (benchmarking).", shouldDisplay: false
        )

        @Option(name: .long, help: "Meter directory to fill.") var dir: String
        @Option(name: .long, help: "Approximate total size in MiB.") var mib: Int = 1024
        @Option(name: .long, help: "Organizations.") var orgs: Int = 4
        @Option(name: .long, help: "UTC days, ending at --last-day.") var days: Int = 30
        @Option(name: .long, help: "Instances (one file per org, day and instance).") var instances: Int = 2
        @Option(name: .customLong("last-day"), help: "Last day (YYYY-MM-DD).") var lastDay: String = "2026-11-24"

        func run() throws {
            guard let end = UTCTimestamp.parse(lastDay) else { throw CLIError(description: "meter generate: --last-day: not a date") }
            let files = max(1, orgs) * max(1, days) * max(1, instances)
            let bytesPerFile = max(1, mib) << 20 / files
            var rng = SystemRandomNumberGenerator()
            let paths = ["/v1/retrievers/search", "/v1/documents", "/v1/documents/upload", "/v1/chat/completions", "/v1/embeddings"]
            let methods = ["GET", "POST", "POST", "POST", "POST"]
            var total = 0
            var records = 0
            var line: [UInt8] = []
            line.reserveCapacity(1 << 20)
            for o in 0..<max(1, orgs) {
                let org = "org_\(o)"
                try FileManager.default.createDirectory(atPath: dir + "/" + org, withIntermediateDirectories: true)
                for d in 0..<max(1, days) {
                    let dayStart = end - Int64(days - 1 - d) * 86_400_000
                    for i in 0..<max(1, instances) {
                        let layout = MeterFileLayout(directory: dir, instance: "replica-\(i)")
                        let path = layout.path(org: org, day: UTCTimestamp.day(milliseconds: dayStart))
                        guard FileManager.default.createFile(atPath: path, contents: nil),
                              let out = FileHandle(forWritingAtPath: path) else {
                            throw CLIError(description: "meter generate: cannot write \(path)")
                        }
                        var written = 0
                        while written < bytesPerFile {
                            line.removeAll(keepingCapacity: true)
                            while line.count < (1 << 20) - 512 && written + line.count < bytesPerFile {
                                let p = Int.random(in: 0..<paths.count, using: &rng)
                                let status = Int.random(in: 0..<100, using: &rng) < 3 ? 502 : 200
                                MeterRecord(
                                    timestampMs: dayStart + Int64.random(in: 0..<86_400_000, using: &rng),
                                    org: org, app: "app_\(o)_\(Int.random(in: 0..<3, using: &rng))",
                                    user: "user_\(Int.random(in: 0..<5000, using: &rng))", method: methods[p], path: paths[p],
                                    status: status, requestBytes: Int.random(in: 0..<4096, using: &rng),
                                    responseBytes: Int.random(in: 0..<65_536, using: &rng),
                                    durationMs: Double(Int.random(in: 1..<20_000, using: &rng)) / 10,
                                    requestID: RequestID(
                                        high: UInt64.random(in: 0...UInt64.max, using: &rng), low: UInt64.random(in: 0...UInt64.max, using: &rng)),
                                    outcome: status == 502 ? .upstreamError : .ok
                                ).appendJSONLine(to: &line)
                                records += 1
                            }
                            out.write(Data(line))
                            written += line.count
                        }
                        try out.close()
                        total += written
                    }
                }
            }
            print("wrote \(records) records, \(total) bytes in \(files) files under \(dir)")
        }
    }
}
