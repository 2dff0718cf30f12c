#if canImport(Glibc)
import Glibc
#endif

/// `gatehouse meter tail`: follows new records across files and UTC-midnight roll-over.
///
/// Each ``poll()`` lists the log files, reads what was appended since the last poll and
/// returns the complete new lines (a line still being written waits for its newline).
/// Files present at start are followed from their end, like `tail -f`; files that
/// appear later (a new day, a new replica) are read from their start. The caller
/// decides how often to poll; polling keeps it portable and immune to missed events.
public struct MeterTailer {
    private var reader: MeterLogReader
    private var offsets: [String: Int] = [:]
    private var partial: [String: [UInt8]] = [:]

    public init(directory: String, org: String? = nil) throws {
        self.reader = MeterLogReader(directory: directory, org: org)
        for path in (try? reader.files()) ?? [] {
            offsets[path] = Self.size(path)
        }
    }

    /// New complete lines since the last poll, in file order.
    public mutating func poll() -> [String] {
        guard let files = try? reader.files() else { return [] }
        var lines: [String] = []
        for path in files {
            let size = Self.size(path)
            let offset = offsets[path] ?? 0
            guard size > offset else {
                if size < offset { offsets[path] = size }  // truncated: follow from its end
                continue
            }
            guard let bytes = Self.read(path, from: offset, count: size - offset) else { continue }
            offsets[path] = offset + bytes.count
            var pending = partial[path] ?? []
            pending.append(contentsOf: bytes)
            var start = 0
            while let newline = pending[start...].firstIndex(of: 0x0A) {
                let line = pending[start..<newline]
                if !line.isEmpty { lines.append(String(decoding: line, as: UTF8.self)) }
                start = newline + 1
            }
            partial[path] = Array(pending[start...])
        }
        return lines
    }

    static func size(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }

    static func read(_ path: String, from offset: Int, count: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: count)
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard n >= 0 else { return nil }
        return Array(out.prefix(n))
    }
}
