import Foundation
import GatehouseTesting
import Testing

/// A container runtime may start Gatehouse with a soft limit of 1024 open files under a
/// far higher hard limit (containerd 2 does, systemd's default is the same), and every
/// proxied request holds two descriptors — the client's and the upstream's — so a few
/// hundred concurrent requests would hit `EMFILE`: accepts stall, upstream connects fail
/// as 502. Gatehouse raises its soft limit to the hard one at start, as Go programs do
/// (nginx needs `worker_rlimit_nofile` for it).
@Suite struct OpenFileLimitTests {
    static var canRun: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit") && FileManager.default.fileExists(atPath: "/proc/self/limits")
    }

    /// `Max open files` soft and hard from `/proc/<pid>/limits`.
    static func openFiles(pid: Int32) throws -> (soft: String, hard: String)? {
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        guard let line = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") }) else { return nil }
        let fields = line.dropFirst("Max open files".count).split(separator: " ")
        guard fields.count >= 2 else { return nil }
        return (String(fields[0]), String(fields[1]))
    }

    @Test(.enabled(if: canRun, "needs util-linux's prlimit and /proc"))
    func theSoftLimitIsRaisedToTheHardOneAndUsed() async throws {
        var own = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &own)
        let hard = min(UInt64(own.rlim_max), 4096)
        try #require(hard >= 512, "the test process's hard limit is too low to show anything")
        let width = 150
        let gate = TestGate()
        let api = try await TestHTTPServer.start { _ in .gated(gate, then: .fixed(body: "ok")) }
        let gatehouse = try await GatehouseProcess.start(
            yaml: ProcessMemoryTests.yaml(app: api.url, api: api.url), binary: GatehouseProcess.locateBinary(),
            launcher: ["/usr/bin/prlimit", "--nofile=128:\(hard)", "--"]
        )
        defer { gatehouse.kill() }
        let limits = try #require(try Self.openFiles(pid: gatehouse.pid))
        #expect(limits.soft == "\(hard)" && limits.hard == "\(hard)", "started with 128:\(hard), now \(limits)")

        // And it is there when needed: 150 requests in flight at once hold 300 descriptors
        // besides the listeners and the meter files, far past the 128 it started with.
        let batch = TransportRig.RequestBatch(port: gatehouse.port, count: width, prefix: "/_api/fd")
        let missed = await batch.waitUntilHeld(count: width) { api.requests.count }
        gate.open()
        try #require(missed == nil, "\(missed ?? ""); log:\n\(gatehouse.log.suffix(2000))")
        let outcome = await batch.outcome()
        #expect(outcome.statuses.count == width && outcome.statuses.allSatisfy { $0 == 200 }, "\(outcome.failures.prefix(5)); log:\n\(gatehouse.log.suffix(2000))")
        gatehouse.terminate()
        #expect(await gatehouse.waitForExit() == 0)
        await api.stop()
    }
}
