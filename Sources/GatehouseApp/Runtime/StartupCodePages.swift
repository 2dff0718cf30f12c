#if canImport(Glibc)
import Glibc
#endif

/// Once Gatehouse serves, the executable's code pages leave the process's page tables, so
/// its resident set counts the code that serves requests, not what starting ran.
///
/// Starting runs code no request runs again — the command line, YAML and the
/// configuration's checks, Foundation's and SQLite's set-up, the stores' schemas — and
/// the kernel maps code a whole page-cache folio at a time (up to megabytes, kernel
/// 6.18's fault-around), so after a start the static binary had 22–24 MB of code
/// resident, of which serving the page at 256 connections used about half. The pages stay
/// in the page cache (shared with every other process running the same file, reclaimable
/// under memory pressure; a cgroup's `memory.current` is unchanged); what serving uses
/// faults back in from there on first use, as minor faults.
///
/// Only a mapping whose content is the file's is released: the executable's own, not
/// writable, with no anonymous or swapped page (a page the process wrote is anonymous: the
/// relocated read-only data, RELRO, stays; so does every library's). Dirty is no test: a
/// binary just written (a build, a copy) has page-cache pages not yet written back, dirty
/// but still the file's.
public enum StartupCodePages {
    /// Releases the executable's clean code mappings; the kilobytes they had resident
    /// just before (0 when nothing qualified or elsewhere than Linux).
    @discardableResult
    public static func release() -> Int {
        #if os(Linux)
        guard let executable = executablePath() else { return 0 }
        var released = 0
        for mapping in cleanMappings(of: executable) {
            guard let start = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            if madvise(start, Int(mapping.end - mapping.start), MADV_DONTNEED) == 0 { released += mapping.residentKB }
        }
        return released
        #else
        return 0
        #endif
    }

    #if os(Linux)
    struct Mapping {
        var start: UInt
        var end: UInt
        var residentKB = 0
        var modifiedKB = 0
        var isReleasable: Bool
    }

    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The executable's mappings from `/proc/self/smaps` that are not writable and hold
    /// no anonymous or swapped page.
    static func cleanMappings(of executable: String) -> [Mapping] {
        guard let file = fopen("/proc/self/smaps", "r") else { return [] }
        defer { fclose(file) }
        var mappings: [Mapping] = []
        var current: Mapping?
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line).dropLast()
            if let header = parseHeader(text, executable: executable) {
                if let done = current { mappings.append(done) }
                current = header
            } else if current != nil, let (field, kB) = parseField(text) {
                switch field {
                case "Rss": current?.residentKB = kB
                case "Anonymous", "Swap": current?.modifiedKB += kB
                default: break
                }
            }
        }
        if let done = current { mappings.append(done) }
        return mappings.filter { $0.isReleasable && $0.modifiedKB == 0 }
    }

    /// `start-end perms offset dev inode path`: a mapping (releasable only when it is the
    /// executable's and private, read-only); `nil` for a field line.
    static func parseHeader(_ line: Substring, executable: String) -> Mapping? {
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count >= 5 else { return nil }
        let range = fields[0].split(separator: "-")
        guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), end > start else { return nil }
        let permissions = fields[1]
        let path = fields.count == 6 ? fields[5].drop { $0 == " " } : ""
        // `r-xp`, `r--p`: readable, not writable, private.
        let releasable = path == executable && permissions.hasPrefix("r-") && permissions.hasSuffix("p")
        return Mapping(start: start, end: end, isReleasable: releasable)
    }

    /// `Name:   123 kB`.
    static func parseField(_ line: Substring) -> (Substring, Int)? {
        guard let colon = line.firstIndex(of: ":") else { return nil }
        let value = line[line.index(after: colon)...].split(separator: " ")
        guard value.count == 2, value[1] == "kB", let kB = Int(value[0]) else { return nil }
        return (line[..<colon], kB)
    }
    #endif
}
