import GatehouseCore
import Logging
import ServiceLifecycle

/// `gatehouse serve` as a swift-service-lifecycle `Service`: runs until SIGTERM/SIGINT,
/// then drains and returns, so the process exits 0.
public struct GatehouseService: Service {
    let configuration: GatehouseConfiguration
    let logger: Logger
    let onStart: @Sendable (GatehouseInstance) -> Void

    public init(configuration: GatehouseConfiguration, logger: Logger, onStart: @escaping @Sendable (GatehouseInstance) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onStart = onStart
    }

    public func run() async throws {
        let instance = try await GatehouseInstance.start(configuration: configuration, logger: logger)
        logger.info("gatehouse listening", metadata: [
            "listen": "\(instance.proxyAddress)", "admin": "\(instance.adminAddress)",
        ])
        onStart(instance)
        try? await gracefulShutdown()
        logger.info("draining")
        await instance.shutdown()
        logger.info("stopped")
    }

    /// Runs the service until a signal stops it.
    public static func runUntilSignalled(_ service: some Service, logger: Logger) async throws {
        let group = ServiceGroup(
            services: [service],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        try await group.run()
    }
}
