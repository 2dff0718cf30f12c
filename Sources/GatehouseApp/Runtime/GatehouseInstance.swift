import Foundation
import GatehouseCore
import GatehouseMetering
import GatehouseProxy
import GatehouseUsers
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
    public let meterWriter: MeterWriter
    /// The user list in front of its store (`users.store`), open while serving.
    public let users: UserDirectory
    private let group: MultiThreadedEventLoopGroup
    private let drainTimeout: TimeAmount

    private init(proxyAddress: SocketAddress, adminAddress: SocketAddress, runtime: ProxyRuntime, proxy: ProxyServer, admin: AdminServer,
                 providers: [JWKSProvider], meterWriter: MeterWriter, users: UserDirectory, group: MultiThreadedEventLoopGroup,
                 drainTimeout: TimeAmount) {
        self.proxyAddress = proxyAddress
        self.adminAddress = adminAddress
        self.runtime = runtime
        self.proxy = proxy
        self.admin = admin
        self.providers = providers
        self.meterWriter = meterWriter
        self.users = users
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
        var openedStore: (any UserStore)?
        do {
            let registry = MetricsRegistry.shared()
            // Opened first: a store that cannot open stops the start (one clear line).
            let store = try await UserStores.open(configuration.users.store, eventLoop: group.next())
            openedStore = store
            let users = UserDirectory(store: store, flushLoop: group.next(), logger: logger)
            let built = try RuntimeBuilder(configuration: configuration, group: group, clock: clock, logger: logger, users: users).build()
            for provider in built.providers { provider.start() }
            let settings = ProxySettings(configuration: configuration, clock: clock)
            let instanceName = configuration.metering.instance.isEmpty ? HostName.current() : configuration.metering.instance
            let meterWriter = MeterWriter(
                configuration: configuration.metering, instance: instanceName,
                highWatermark: configuration.metering.queueHighWatermark, logger: logger
            )
            meterWriter.start()
            let flushEvery = TimeAmount.milliseconds(Int64(max(1, configuration.metering.flushIntervalMs / 2)))
            let proxy = try await ProxyServer(
                listen: configuration.listen, runtime: built.runtime, settings: settings, group: group, logger: logger,
                meterWriter: meterWriter, meterFlushInterval: flushEvery
            )
            let providers = built.providers
            let admin = AdminServer(listen: configuration.adminListen, group: group, probes: .init(
                isReady: { providers.allSatisfy { $0.isReady } && store.isOpen },
                renderMetrics: { registry.emitToString() }
            ))
            let adminAddress = try await admin.start()
            let proxyAddress = try await proxy.start()
            users.start()
            return GatehouseInstance(
                proxyAddress: proxyAddress, adminAddress: adminAddress, runtime: built.runtime, proxy: proxy, admin: admin,
                providers: providers, meterWriter: meterWriter, users: users, group: group,
                drainTimeout: .milliseconds(Int64(configuration.drainTimeoutMs))
            )
        } catch {
            await openedStore?.close()
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Whether every JWKS has loaded and the user store is open (what `/readyz` reports).
    public var isReady: Bool { providers.allSatisfy { $0.isReady } && users.store.isOpen }

    /// SIGTERM behaviour: stop accepting, drain in-flight requests (bounded by the drain
    /// timeout), then stop the admin listener, the refresh timers and the loops.
    public func shutdown() async {
        await proxy.drain(timeout: drainTimeout)
        // Every exchange has ended and every loop has handed over its records.
        await meterWriter.shutdown()
        // Users seen up to the last drained request are written, then the store closes.
        await users.shutdown()
        await users.store.close()
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

/// The machine's host name: the default meter file suffix (`metering.instance`).
public enum HostName {
    public static func current() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let safe = name.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
        return safe.isEmpty ? "localhost" : safe
    }
}
