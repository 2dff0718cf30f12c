import Foundation
import GatehouseCore
import GatehouseMetering
import GatehouseProxy
import GatehouseUsers
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A running Gatehouse: event loops, JWKS providers, the proxy and admin listeners.
/// `serve`, `demo` and the integration tests all start one of these.
public final class GatehouseInstance: Sendable {
    public let proxyAddress: SocketAddress
    public let adminAddress: SocketAddress
    /// The runtime new requests are served with (replaced by ``reload(configuration:)``).
    public var runtime: ProxyRuntime { state.withLockedValue { $0.built.runtime } }
    private let proxy: ProxyServer
    private let admin: AdminServer
    /// The configuration and runtime in force. Read by `/readyz` and a reload, never by
    /// the request path (each loop holds its own reference to the runtime).
    private let state: NIOLockedValueBox<State>
    private let group: MultiThreadedEventLoopGroup
    private let clock: @Sendable () -> Double
    private let logger: Logger
    public let meterWriter: MeterWriter
    /// The user list in front of its store (`users.store`), open while serving.
    public let users: UserDirectory

    private struct State: Sendable {
        var configuration: GatehouseConfiguration
        var built: RuntimeBuilder.Built
        var reloading = false
    }

    private init(proxyAddress: SocketAddress, adminAddress: SocketAddress, proxy: ProxyServer, admin: AdminServer,
                 state: NIOLockedValueBox<State>, meterWriter: MeterWriter, users: UserDirectory, group: MultiThreadedEventLoopGroup,
                 clock: @escaping @Sendable () -> Double, logger: Logger) {
        self.proxyAddress = proxyAddress
        self.adminAddress = adminAddress
        self.proxy = proxy
        self.admin = admin
        self.state = state
        self.meterWriter = meterWriter
        self.users = users
        self.group = group
        self.clock = clock
        self.logger = logger
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
            let state = NIOLockedValueBox(State(configuration: configuration, built: built))
            let admin = AdminServer(listen: configuration.adminListen, group: group, probes: .init(
                isReady: { state.withLockedValue { $0.built.providers }.allSatisfy { $0.isReady } && store.isOpen },
                // The request path's counters come from the proxy's loops, the meter queue's
                // gauges from the writer; the rest (JWKS fetches, the meter writer's
                // counters) from swift-metrics' registry.
                renderMetrics: { loop in
                    proxy.metricsText(on: loop).map { $0 + meterWriter.queueMetricsText + registry.emitToString() }
                }
            ))
            let adminAddress = try await admin.start()
            let proxyAddress = try await proxy.start()
            users.start()
            return GatehouseInstance(
                proxyAddress: proxyAddress, adminAddress: adminAddress, proxy: proxy, admin: admin,
                state: state, meterWriter: meterWriter, users: users, group: group, clock: clock, logger: logger
            )
        } catch {
            await openedStore?.close()
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Whether every JWKS has loaded and the user store is open (what `/readyz` reports).
    public var isReady: Bool {
        state.withLockedValue { $0.built.providers }.allSatisfy { $0.isReady } && users.store.isOpen
    }

    /// SIGHUP: serves every request that starts from now on with `configuration`, without
    /// closing a connection or failing a request. In-flight exchanges finish on the old
    /// snapshot; kept-alive connections switch at their next request.
    ///
    /// The new configuration is built completely before anything changes, so one that
    /// cannot be used (unreadable key file, bad publishable key) throws and the old one
    /// keeps serving. Settings bound at start — listeners, event loops, metering, the user
    /// store — keep their running values; the result names the ones that differ, which
    /// take effect at the next restart.
    @discardableResult
    public func reload(configuration new: GatehouseConfiguration) async throws -> ReloadOutcome {
        let (old, previous) = try state.withLockedValue { state -> (GatehouseConfiguration, RuntimeBuilder.Built) in
            guard !state.reloading else { throw ReloadError(description: "a reload is already in progress") }
            state.reloading = true
            return (state.configuration, state.built)
        }
        defer { state.withLockedValue { $0.reloading = false } }
        var effective = new
        let pinned = Self.keepStartBoundSettings(of: old, in: &effective)
        let built = try RuntimeBuilder(
            configuration: effective, group: group, clock: clock, logger: logger, users: users, previous: previous.carried
        ).build()
        let kept = Set(previous.providers.map(ObjectIdentifier.init))
        for provider in built.providers where !kept.contains(ObjectIdentifier(provider)) { provider.start() }
        await proxy.install(runtime: built.runtime, settings: ProxySettings(configuration: effective, clock: clock))
        state.withLockedValue {
            $0.configuration = effective
            $0.built = built
        }
        let inUse = Set(built.providers.map(ObjectIdentifier.init))
        for provider in previous.providers where !inUse.contains(ObjectIdentifier(provider)) { provider.stop() }
        return ReloadOutcome(apps: built.runtime.apps.map(\.config.id), needsRestart: pinned)
    }

    /// Puts back into `new` the settings the running process cannot change (see
    /// ``reload(configuration:)``); returns their names where they differed.
    static func keepStartBoundSettings(of old: GatehouseConfiguration, in new: inout GatehouseConfiguration) -> [String] {
        var differing: [String] = []
        func pin<Value: Equatable>(_ name: String, _ path: WritableKeyPath<GatehouseConfiguration, Value>) {
            if new[keyPath: path] != old[keyPath: path] {
                differing.append(name)
                new[keyPath: path] = old[keyPath: path]
            }
        }
        pin("listen", \.listen)
        pin("admin_listen", \.adminListen)
        pin("event_loops", \.eventLoops)
        pin("metering", \.metering)
        pin("users.store", \.users)
        pin("limits.idle_timeout_ms", \.limits.idleTimeoutMs)
        return differing
    }

    /// SIGTERM behaviour: stop accepting, drain in-flight requests (bounded by the drain
    /// timeout), then stop the admin listener, the refresh timers and the loops.
    public func shutdown() async {
        let (drainTimeoutMs, providers) = state.withLockedValue { ($0.configuration.drainTimeoutMs, $0.built.providers) }
        await proxy.drain(timeout: .milliseconds(Int64(drainTimeoutMs)))
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

/// What a reload applied.
public struct ReloadOutcome: Sendable, Equatable {
    /// The app ids now served.
    public var apps: [String]
    /// Changed settings that keep their running value until a restart.
    public var needsRestart: [String]

    public init(apps: [String], needsRestart: [String]) {
        self.apps = apps
        self.needsRestart = needsRestart
    }
}

/// A reload that was refused; the running configuration is unchanged.
public struct ReloadError: Error, CustomStringConvertible {
    public let description: String
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
