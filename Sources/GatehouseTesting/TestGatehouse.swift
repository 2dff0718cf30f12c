import Foundation
import GatehouseApp
import GatehouseCore
import Logging

/// A Gatehouse started in-process on 127.0.0.1 with free ports, for integration tests.
public struct TestGatehouse: Sendable {
    public let instance: GatehouseInstance
    public let configuration: GatehouseConfiguration

    public init(instance: GatehouseInstance, configuration: GatehouseConfiguration) {
        self.instance = instance
        self.configuration = configuration
    }

    public var port: Int { instance.proxyAddress.port ?? 0 }
    public var adminPort: Int { instance.adminAddress.port ?? 0 }

    /// One default app in front of `app` and `api` upstream URLs with `auth` applied;
    /// `configure` adjusts anything else before start.
    public static func configuration(
        appUpstream: String,
        apiUpstream: String,
        ownerKey: String = TestGatehouse.ownerKey,
        auth: AuthConfiguration,
        configure: (inout GatehouseConfiguration) -> Void = { _ in }
    ) -> GatehouseConfiguration {
        let app = AppConfiguration(
            id: "app_test", org: "org_test",
            upstream: UpstreamURL(parsing: appUpstream) ?? UpstreamURL(scheme: .http, host: "127.0.0.1", port: 1),
            api: APIConfiguration(upstream: UpstreamURL(parsing: apiUpstream) ?? UpstreamURL(scheme: .http, host: "127.0.0.1", port: 1), ownerKey: Secret(ownerKey)),
            auth: auth
        )
        var config = GatehouseConfiguration(
            listen: .init(host: "127.0.0.1", port: 0),
            adminListen: .init(host: "127.0.0.1", port: 0),
            eventLoops: 2,
            apps: [app]
        )
        config.drainTimeoutMs = 5_000
        // Tests leave no database behind unless they ask for a file.
        config.users.store = "sqlite::memory:"
        // Never the default ./meter: tests must not write into the working tree.
        config.metering.dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-test-meter-\(UUID().uuidString)").path
        configure(&config)
        return config
    }

    public static let ownerKey = "sk_owner_test_5f2c91"

    /// The test process holds every in-process Gatehouse's descriptors and its tests'
    /// clients and upstreams too, hundreds at once when batch tests overlap: it raises its
    /// soft open-file limit as `gatehouse serve` does, or a machine starting it at 1024
    /// fails a connect with `EMFILE` where the real process would not.
    static let openFilesRaised: Void = { OpenFileLimit.raiseToHardLimit() }()

    public static func start(_ configuration: GatehouseConfiguration, clock: @escaping @Sendable () -> Double = SystemClock.now) async throws -> TestGatehouse {
        _ = openFilesRaised
        var logger = Logger(label: "gatehouse-test")
        logger.logLevel = .critical
        let instance = try await GatehouseInstance.start(configuration: configuration, logger: logger, clock: clock)
        return TestGatehouse(instance: instance, configuration: configuration)
    }

    /// Sends one request on a fresh connection and reads the response.
    public func request(
        _ method: String = "GET", _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        host: String = "gatehouse.test"
    ) async throws -> TestHTTPResponse {
        try await RawConnection.request(port: port, method, target, headers: headers, body: body, host: host)
    }

    public func stop() async {
        await instance.shutdown()
    }
}
