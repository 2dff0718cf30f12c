import Foundation
import GatehouseTesting
import Testing

/// `StartupCodePages`: once `gatehouse serve` listens, the code its start ran leaves its
/// resident set (the real binary, its `/proc/<pid>/smaps` read from outside), and what
/// serving needs faults back in.
@Suite struct StartupCodePagesTests {
    /// Kilobytes resident in `pid`'s mappings of `binary` that are executable.
    static func residentCodeKB(pid: Int32, binary: String) throws -> Int {
        let smaps = try String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8)
        var total = 0
        var inCode = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), !first.hasSuffix(":"), fields.count >= 5 {
                inCode = fields.count == 6 && fields[5] == binary && fields[1].hasPrefix("r-x")
            } else if inCode, fields.count == 3, fields[0] == "Rss:", let kB = Int(fields[1]) {
                total += kB
            }
        }
        return total
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/smaps"), "reads /proc"))
    func theCodeStartingRanLeavesTheResidentSet() async throws {
        let api = try await TestHTTPServer.start { r in .fixed(body: "hello " + r.path) }
        let binary = try GatehouseProcess.locateBinary()
        let gatehouse = try await GatehouseProcess.start(yaml: ProcessMemoryTests.yaml(app: api.url, api: api.url), binary: binary)
        defer { gatehouse.kill() }
        let marker = "startup code pages released"
        let logged = await TransportRig.eventually { gatehouse.log.contains(marker) }
        let log = gatehouse.log
        let line = try #require(log.split(separator: "\n").first { $0.contains(marker) }, "logged: \(logged)\n\(log)")
        let released = try #require(line.split(separator: " ").first { $0.hasPrefix("resident_kb=") }.flatMap { Int($0.dropFirst("resident_kb=".count)) })
        let path = binary.resolvingSymlinksInPath().path
        let now = try Self.residentCodeKB(pid: gatehouse.pid, binary: path)
        // Starting left megabytes of code resident; right after the release only what the
        // idle process has run since is back.
        #expect(released > 1024, "\(line)")
        #expect(now < released / 2, "released \(released) kB, \(now) kB resident again")

        // And what serving needs comes back from the page cache: requests are answered.
        for i in 0..<3 {
            let response = try await RawConnection.request(port: gatehouse.port, "GET", "/_api/after\(i)", headers: TransportRig.bearer)
            #expect(response.status == 200)
            #expect(response.text == "hello /after\(i)")
        }
        gatehouse.terminate()
        #expect(await gatehouse.waitForExit() == 0)
        await api.stop()
    }
}
