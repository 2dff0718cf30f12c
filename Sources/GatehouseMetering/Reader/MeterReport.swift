import Foundation

/// `gatehouse meter report` (SPEC "Metering"): calls, errors, bytes and p50/p95
/// duration per group, over every instance's files in a time range.
public enum MeterReport {
    public enum GroupBy: String, Sendable, CaseIterable {
        case day, hour, user, path, status
    }

    public enum Format: String, Sendable, CaseIterable {
        case table, csv, json
    }

    public struct Row: Sendable, Equatable {
        public var key: String
        public var calls = 0
        public var errors = 0
        public var requestBytes = 0
        public var responseBytes = 0
        public var p50: Double = 0
        public var p95: Double = 0

        public init(key: String, calls: Int = 0, errors: Int = 0, requestBytes: Int = 0, responseBytes: Int = 0, p50: Double = 0, p95: Double = 0) {
            self.key = key
            self.calls = calls
            self.errors = errors
            self.requestBytes = requestBytes
            self.responseBytes = responseBytes
            self.p50 = p50
            self.p95 = p95
        }
    }

    public struct Query: Sendable {
        public var directory: String
        public var org: String?
        public var app: String?
        public var since: Int64?
        public var until: Int64?
        public var by: GroupBy = .day

        public init(directory: String, org: String? = nil, app: String? = nil, since: Int64? = nil, until: Int64? = nil, by: GroupBy = .day) {
            self.directory = directory
            self.org = org
            self.app = app
            self.since = since
            self.until = until
            self.by = by
        }
    }

    /// Aggregates the matching records; rows sorted by key. `skipped` counts torn or
    /// foreign lines.
    public static func run(_ query: Query) throws -> (rows: [Row], skipped: Int) {
        var reader = MeterLogReader(directory: query.directory, org: query.org, since: query.since, until: query.until)
        var groups: [String: (Row, DurationHistogram)] = [:]
        try reader.forEach { line in
            if let app = query.app, line.app != app { return }
            let key = Self.key(line, by: query.by)
            // In place: copying the group out and back would copy its histogram's
            // storage on every line (copy-on-write with two owners).
            Self.accumulate(line, into: &groups[key, default: (Row(key: key), DurationHistogram())])
        }
        let rows = groups.keys.sorted().compactMap { key -> Row? in
            guard let (found, histogram) = groups[key] else { return nil }
            var row = found
            row.p50 = histogram.percentile(50)
            row.p95 = histogram.percentile(95)
            return row
        }
        return (rows, reader.skippedLines)
    }

    private static func accumulate(_ line: MeterLine, into group: inout (Row, DurationHistogram)) {
        group.0.calls += 1
        if line.isError { group.0.errors += 1 }
        group.0.requestBytes += line.requestBytes
        group.0.responseBytes += line.responseBytes
        group.1.add(line.durationMs)
    }

    static func key(_ line: MeterLine, by: GroupBy) -> String {
        switch by {
        case .day: return UTCTimestamp.day(milliseconds: line.timestampMs)
        case .hour:
            let c = UTCTimestamp.civil(milliseconds: line.timestampMs)
            return UTCTimestamp.day(milliseconds: line.timestampMs) + "T" + (c.hour < 10 ? "0" : "") + String(c.hour)
        case .user: return line.user
        case .path: return line.path
        case .status: return String(line.status)
        }
    }

    public static let columns = ["key", "calls", "errors", "req_bytes", "resp_bytes", "p50_ms", "p95_ms"]

    public static func render(_ rows: [Row], format: Format) -> String {
        switch format {
        case .json:
            var out: [UInt8] = [UInt8(ascii: "[")]
            for (i, row) in rows.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #"{"key":"#.utf8)
                JSONText.appendString(row.key, to: &out)
                out.append(contentsOf: #","calls":\#(row.calls),"errors":\#(row.errors),"req_bytes":\#(row.requestBytes),"resp_bytes":\#(row.responseBytes),"p50_ms":"#.utf8)
                JSONText.appendTenths(row.p50, to: &out)
                out.append(contentsOf: #","p95_ms":"#.utf8)
                JSONText.appendTenths(row.p95, to: &out)
                out.append(UInt8(ascii: "}"))
            }
            out.append(contentsOf: "]\n".utf8)
            return String(decoding: out, as: UTF8.self)
        case .csv:
            var text = columns.joined(separator: ",") + "\n"
            for row in rows { text += cells(row).map(csvField).joined(separator: ",") + "\n" }
            return text
        case .table:
            let body = rows.map(cells)
            var widths = columns.map(\.count)
            for cells in body {
                for (i, cell) in cells.enumerated() { widths[i] = max(widths[i], cell.count) }
            }
            func line(_ cells: [String]) -> String {
                cells.enumerated().map { i, cell in
                    let pad = String(repeating: " ", count: widths[i] - cell.count)
                    return i == 0 ? cell + pad : pad + cell  // key left, numbers right
                }.joined(separator: "  ")
            }
            var text = line(columns) + "\n"
            for cells in body { text += line(cells) + "\n" }
            return text
        }
    }

    private static func cells(_ row: Row) -> [String] {
        [row.key, String(row.calls), String(row.errors), String(row.requestBytes), String(row.responseBytes),
         tenths(row.p50), tenths(row.p95)]
    }

    private static func tenths(_ v: Double) -> String {
        var out: [UInt8] = []
        JSONText.appendTenths(v, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
