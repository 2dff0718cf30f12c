import Foundation
import GatehouseCore
import GatehouseProxy
import Logging
import NIOCore
import NIOPosix

/// A running Gatehouse: event loops, JWKS providers, the proxy and admin listeners.
/// `serve`, `demo` and the integration tests all start one of these.
public final class GatehouseInstance: Sendable {
    public let proxyAddress: SocketAddress
    public let adminAddress: SocketAddress
    public let runtime: ProxyRuntime
    private let proxy: ProxyServer
    private let admin: AdminServer
    private let providers: [JWKSProvider]
    private let group: MultiThreadedEventLoopGroup
    private let drainTimeout: TimeAmount

    private init(proxyAddress: SocketAddress, adminAddress: SocketAddress, runtime: ProxyRuntime, proxy: ProxyServer, admin: AdminServer,
                 providers: [JWKSProvider], group: MultiThreadedEventLoopGroup, drainTimeout: TimeAmount) {
        self.proxyAddress = proxyAddress
        self.adminAddress = adminAddress
        self.runtime = runtime
        self.proxy = proxy
        self.admin = admin
        self.providers = providers
        self.group = group
        self.drainTimeout = drainTimeout
    }

    /// Starts everything; the JWKS fetches begin at once and `/readyz` says when they landed.
    public static func start(
        configuration: GatehouseConfiguration,
        logger: Logger = Logger(label: "gatehouse"),
        clock: @escaping @Sendable () -> Double = SystemClock.now
    ) async throws -> GatehouseInstance {
        let threads = configuration.eventLoops ?? System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        do {
            let registry = MetricsRegistry.shared()
            let built = try RuntimeBuilder(configuration: configuration, group: group, clock: clock, logger: logger).build()
            for provider in built.providers { provider.start() }
            let settings = ProxySettings(configuration: configuration, clock: clock)
            let proxy = try await ProxyServer(listen: configuration.listen, runtime: built.runtime, settings: settings, group: group, logger: logger)
            let providers = built.providers
            let admin = AdminServer(listen: configuration.adminListen, group: group, probes: .init(
                isReady: { providers.allSatisfy { $0.isReady } },
                renderMetrics: { registry.emitToString() }
            ))
            let adminAddress = try await admin.start()
            let proxyAddress = try await proxy.start()
            return GatehouseInstance(
                proxyAddress: proxyAddress, adminAddress: adminAddress, runtime: built.runtime, proxy: proxy, admin: admin,
                providers: providers, group: group, drainTimeout: .milliseconds(Int64(configuration.drainTimeoutMs))
            )
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Whether every JWKS has loaded (what `/readyz` reports).
    public var isReady: Bool { providers.allSatisfy { $0.isReady } }

    /// SIGTERM behaviour: stop accepting, drain in-flight requests (bounded by the drain
    /// timeout), then stop the admin listener, the refresh timers and the loops.
    public func shutdown() async {
        await proxy.drain(timeout: drainTimeout)
        await admin.stop()
        for provider in providers { provider.stop() }
        try? await group.shutdownGracefully()
    }
}

/// Wall-clock seconds since 1970.
public enum SystemClock {
    @Sendable public static func now() -> Double {
        Date().timeIntervalSince1970
    }
}
