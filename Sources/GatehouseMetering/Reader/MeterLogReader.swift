#if canImport(Glibc)
import Glibc
#endif

/// Streams every record line of a meter directory, in bounded memory.
///
/// Files are chosen by name (`<org>/<day>.<instance>.jsonl`, every instance), skipping
/// days outside the wanted range; each is read in 1 MiB chunks and split on `\n`. A last
/// line without its newline is a write torn by a crash: skipped, like any line that
/// does not parse. Runs on the calling thread (a CLI command, not an event loop).
public struct MeterLogReader {
    public struct ReadError: Error, CustomStringConvertible {
        public let description: String
    }

    public var directory: String
    public var org: String?
    /// Inclusive lower bound on `ts`, in ms.
    public var since: Int64?
    /// Exclusive upper bound on `ts`, in ms.
    public var until: Int64?
    /// Lines that did not parse (torn or foreign).
    public private(set) var skippedLines = 0

    public init(directory: String, org: String? = nil, since: Int64? = nil, until: Int64? = nil) {
        self.directory = directory
        self.org = org
        self.since = since
        self.until = until
    }

    /// The log files to read, sorted (day, then instance).
    public func files() throws -> [String] {
        let orgs: [String]
        if let org {
            orgs = [org]
        } else {
            guard let entries = Self.list(directory) else {
                throw ReadError(description: "meter: --dir: cannot read \(directory)")
            }
            orgs = entries.filter { !$0.hasPrefix(".") }
        }
        var out: [(String, String)] = []
        for org in orgs {
            let dir = directory + "/" + org
            guard let names = Self.list(dir) else { continue }
            for name in names {
                guard let (day, _) = MeterFileLayout.parseFileName(name), let dayStart = UTCTimestamp.parse(day) else { continue }
                if let since, dayStart + 86_400_000 <= since { continue }
                if let until, dayStart >= until { continue }
                out.append((day + "/" + name, dir + "/" + name))
            }
        }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Calls `body` with each parsed line within the bounds.
    public mutating func forEach(_ body: (MeterLine) throws -> Void) throws {
        for path in try files() {
            try read(path, body)
        }
    }

    private mutating func read(_ path: String, _ body: (MeterLine) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(description: "meter: cannot read \(path)") }
        defer { close(fd) }
        let chunkSize = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var carry: [UInt8] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, chunkSize) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(description: "meter: cannot read \(path)")
            }
            if n == 0 { break }
            try buffer.withUnsafeBytes { raw in
                let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                var start = 0
                if !carry.isEmpty {
                    guard let newline = chunk.firstIndex(of: 0x0A) else {
                        carry.append(contentsOf: chunk)
                        if carry.count > 1 << 20 { carry.removeAll(); skippedLines += 1 }
                        return
                    }
                    carry.append(contentsOf: chunk[0..<newline])
                    try carry.withUnsafeBytes { try handle($0, body) }
                    carry.removeAll(keepingCapacity: true)
                    start = newline + 1
                }
                var i = start
                while let newline = chunk[i...].firstIndex(of: 0x0A) {
                    try handle(UnsafeRawBufferPointer(rebasing: chunk[i..<newline]), body)
                    i = newline + 1
                }
                if i < n { carry.append(contentsOf: chunk[i..<n]) }
            }
        }
        if !carry.isEmpty { skippedLines += 1 }  // torn last line
    }

    private mutating func handle(_ line: UnsafeRawBufferPointer, _ body: (MeterLine) throws -> Void) throws {
        guard !line.isEmpty else { return }
        guard let record = MeterLine.parse(line) else {
            skippedLines += 1
            return
        }
        if let since, record.timestampMs < since { return }
        if let until, record.timestampMs >= until { return }
        if let org, record.org != org { return }
        try body(record)
    }

    static func list(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

extension MeterLogReader {
    /// Records an org has in the logs for the UTC month holding `now` (every instance),
    /// counting complete lines only: the seed of the monthly quota after a restart.
    public static func countRecords(directory: String, org: String, monthOf now: Int64) -> Int {
        let month = UTCTimestamp.month(milliseconds: now)
        let dir = directory + "/" + org
        guard let names = list(dir) else { return 0 }
        var total = 0
        for name in names where name.hasPrefix(month + "-") && MeterFileLayout.parseFileName(name) != nil {
            let fd = open(dir + "/" + name, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 1 << 20) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                for i in 0..<n where buffer[i] == 0x0A { total += 1 }
            }
        }
        return total
    }
}
