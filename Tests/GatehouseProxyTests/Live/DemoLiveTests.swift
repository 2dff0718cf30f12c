import Foundation
import GatehouseApp
import GatehouseCore
import GatehouseTesting
import Logging
import Testing

/// `gatehouse demo`: its banner's curl lines work as printed.
@Suite struct DemoLiveTests {
    @Test func bannerTokenGets200AndNoTokenGets401() async throws {
        var logger = Logger(label: "demo-test")
        logger.logLevel = .critical
        let session = try await DemoSession.start(
            listen: .init(host: "127.0.0.1", port: 0), adminListen: .init(host: "127.0.0.1", port: 0), logger: logger,
            stateDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-demo-\(UUID().uuidString)").path
        )
        let port = try #require(session.instance.proxyAddress.port)
        #expect(session.banner.contains("http://127.0.0.1:\(port)/_api/hello"))
        let tokenLine = try #require(session.banner.split(separator: "\n").first { $0.contains("Authorization: Bearer") })
        let token = try #require(tokenLine.split(separator: " ").first { $0.hasPrefix("eyJ") }).replacingOccurrences(of: "'", with: "")

        let gatehouse = TestGatehouse(instance: session.instance, configuration: GatehouseConfiguration())
        let ok = try await gatehouse.request("GET", "/_api/hello", headers: [("Authorization", "Bearer \(token)")])
        #expect(ok.status == 200)
        #expect(ok.text.contains(#""owner_key_received":true"#))
        let denied = try await gatehouse.request("GET", "/_api/hello")
        #expect(denied.status == 401)
        let page = try await gatehouse.request("GET", "/")
        #expect(page.status == 200 && page.text.contains("<title>Gatehouse demo</title>"))
        await session.stop()
    }
}
