import GatehouseCore
import Logging
import ServiceLifecycle
import UnixSignals

/// `gatehouse serve` as a swift-service-lifecycle `Service`: runs until SIGTERM/SIGINT,
/// then drains and returns, so the process exits 0. With a `reload` source, SIGHUP
/// re-reads the configuration (the nginx/HAProxy convention) and swaps it in without
/// dropping a connection.
public struct GatehouseService: Service {
    let configuration: GatehouseConfiguration
    let logger: Logger
    let onStart: @Sendable (GatehouseInstance) -> Void
    /// Reads the configuration again (file, environment, flags); `nil`: SIGHUP is ignored.
    let reload: (@Sendable () throws -> GatehouseConfiguration)?

    public init(
        configuration: GatehouseConfiguration, logger: Logger,
        reload: (@Sendable () throws -> GatehouseConfiguration)? = nil,
        onStart: @escaping @Sendable (GatehouseInstance) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.reload = reload
        self.onStart = onStart
    }

    public func run() async throws {
        // Trapped before the listeners open: a SIGHUP that arrives early must not kill the
        // process (its default action).
        let hangups = reload == nil ? nil : await UnixSignalsSequence(trapping: .sighup)
        let instance = try await GatehouseInstance.start(configuration: configuration, logger: logger)
        logger.info("gatehouse listening", metadata: [
            "listen": "\(instance.proxyAddress)", "admin": "\(instance.adminAddress)",
        ])
        onStart(instance)
        if let hangups, let reload {
            await withGracefulShutdownHandler {
                for await _ in hangups.cancelOnGracefulShutdown() {
                    await Self.reload(instance, from: reload, logger: logger)
                }
            } onGracefulShutdown: {}
        } else {
            try? await gracefulShutdown()
        }
        logger.info("draining")
        await instance.shutdown()
        logger.info("stopped")
    }

    /// One SIGHUP: a configuration that does not load or build is refused with one log
    /// line and the running one keeps serving.
    static func reload(_ instance: GatehouseInstance, from source: @Sendable () throws -> GatehouseConfiguration, logger: Logger) async {
        logger.info("SIGHUP: reloading configuration")
        do {
            let configuration = try source()
            let outcome = try await instance.reload(configuration: configuration)
            var metadata: Logger.Metadata = ["apps": "\(outcome.apps.joined(separator: ","))"]
            if !outcome.needsRestart.isEmpty {
                metadata["needs_restart"] = "\(outcome.needsRestart.joined(separator: ","))"
                logger.warning("changed settings keep their running values until a restart", metadata: ["settings": metadata["needs_restart"] ?? ""])
            }
            logger.info("configuration reloaded", metadata: metadata)
        } catch {
            logger.error("configuration reload rejected, still serving the previous configuration: \(error)")
        }
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
