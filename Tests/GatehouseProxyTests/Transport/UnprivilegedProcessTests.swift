import Foundation
import GatehouseTesting
import Testing

/// The container runs Gatehouse as uid 10001 without capabilities. A socket option that
/// only root may set (`SO_DEBUG`, once set by mistake for `TCP_NODELAY` at the wrong
/// level) made every proxied connection close at accept for any other user, while a
/// suite running as root never saw it. This runs the real binary as an unprivileged user
/// and sends a request through the proxy port.
@Suite(.serialized) struct UnprivilegedProcessTests {
    @Test func proxyServesWhenRunAsAnUnprivilegedUser() async throws {
        var launcher: [String] = []
        if getuid() == 0 {
            let setpriv = "/usr/bin/setpriv"
            try #require(FileManager.default.isExecutableFile(atPath: setpriv), "util-linux's setpriv runs the binary as uid 10001")
            launcher = [setpriv, "--reuid=10001", "--regid=10001", "--clear-groups"]
        }
        // Writable by the unprivileged user; nothing else is written.
        let meter = MeteringRig.tempDirectory("meter-unprivileged")
        chmod(meter, 0o777)
        defer { MeteringRig.remove(meter) }
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let yaml = MeteringRig.yaml(api: api.url, dir: meter, fsync: "never", flushMs: 20)
            + "\nusers:\n  store: \"sqlite::memory:\"\n"
        let gatehouse = try await GatehouseProcess.start(yaml: yaml, binary: GatehouseProcess.locateBinary(), launcher: launcher)
        defer { gatehouse.kill() }
        #expect(try String(contentsOfFile: "/proc/\(gatehouse.pid)/status", encoding: .utf8).contains(getuid() == 0 ? "Uid:\t10001" : "Uid:\t\(getuid())"))

        let connection = try await RawConnection.connect(port: gatehouse.port)
        for i in 0..<3 {
            try await connection.send("GET /_api/x/\(i) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(MeteringRig.apiKey)\r\n\r\n")
            let response = try await connection.readResponse()
            #expect(response.status == 200, "log:\n\(gatehouse.log)")
        }
        await connection.close()
        #expect(api.requests.count == 3)
        gatehouse.terminate()
        #expect(await gatehouse.waitForExit() == 0)
        await api.stop()
    }
}
