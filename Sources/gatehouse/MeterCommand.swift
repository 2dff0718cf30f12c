import ArgumentParser
import Foundation
import GatehouseMetering

/// `gatehouse meter`: read the billing logs.
struct Meter: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read the per-org meter logs.", subcommands: [Report.self, Tail.self, Generate.self])

    /// `gatehouse meter report`: calls, errors, bytes and p50/p95 per group.
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Aggregate meter records (every instance, every day in range).")

        @Option(name: .long, help: "Meter directory (metering.dir).") var dir: String
        @Option(name: .long, help: "Only this organization.") var org: String?
        @Option(name: .long, help: "Only this app.") var app: String?
        @Option(name: .long, help: "From this RFC 3339 time or date, UTC (inclusive).") var since: String?
        @Option(name: .long, help: "Until this RFC 3339 time or date, UTC (exclusive).") var until: String?
        @Option(name: .long, help: "day | hour | user | path | status") var by: String = "day"
        @Option(name: .long, help: "table | csv | json") var format: String = "table"

        func run() throws {
            guard let groupBy = MeterReport.GroupBy(rawValue: by) else {
                throw CLIError(description: "meter report: --by: expected day, hour, user, path or status, got \(by)")
            }
            guard let output = MeterReport.Format(rawValue: format) else {
                throw CLIError(description: "meter report: --format: expected table, csv or json, got \(format)")
            }
            let sinceMs = try since.map { text -> Int64 in
                guard let v = UTCTimestamp.parse(text) else { throw CLIError(description: "meter report: --since: not an RFC 3339 time or date: \(text)") }
                return v
            }
            let untilMs = try until.map { text -> Int64 in
                guard let v = UTCTimestamp.parse(text) else { throw CLIError(description: "meter report: --until: not an RFC 3339 time or date: \(text)") }
                return v
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError(description: "meter report: --dir: not a directory: \(dir)")
            }
            let query = MeterReport.Query(directory: dir, org: org, app: app, since: sinceMs, until: untilMs, by: groupBy)
            let result: (rows: [MeterReport.Row], skipped: Int)
            do {
                result = try MeterReport.run(query)
            } catch {
                throw CLIError(description: "\(error)")
            }
            FileHandle.standardOutput.write(Data(MeterReport.render(result.rows, format: output).utf8))
            if result.skipped > 0 {
                FileHandle.standardError.write(Data("meter report: skipped \(result.skipped) incomplete or unreadable line(s)\n".utf8))
            }
        }
    }

    /// `gatehouse meter tail`: print new records as they are written.
    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Follow new meter records (across files and days).")

        @Option(name: .long, help: "Meter directory (metering.dir).") var dir: String
        @Option(name: .long, help: "Only this organization.") var org: String?
        @Option(name: .customLong("poll-ms"), help: "How often to look for new records.") var pollMs: Int = 250

        func run() throws {
            var tailer: MeterTailer
            do {
                tailer = try MeterTailer(directory: dir, org: org)
            } catch {
                throw CLIError(description: "meter tail: --dir: \(error)")
            }
            while true {
                let lines = tailer.poll()
                if !lines.isEmpty {
                    FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
                }
                usleep(useconds_t(max(10, pollMs) * 1000))
            }
        }
    }
}
