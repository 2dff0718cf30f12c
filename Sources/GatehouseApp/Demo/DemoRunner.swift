import Foundation
import GatehouseCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// `gatehouse demo`: the demo upstream, a dev-mode Gatehouse in front of it, and a
/// ready `curl` line. Everything on 127.0.0.1; nothing leaves the machine.
public struct DemoRunner: Service {
    public let listen: ListenAddress
    public let adminListen: ListenAddress
    let logger: Logger
    let print: @Sendable (String) -> Void

    public init(listen: ListenAddress, adminListen: ListenAddress = .init(host: "127.0.0.1", port: 9090), logger: Logger, print: @escaping @Sendable (String) -> Void) {
        self.listen = listen
        self.adminListen = adminListen
        self.logger = logger
        self.print = print
    }

    /// The configuration `demo` runs: one dev-mode app whose app and API upstreams are
    /// both the demo server (its API lives under `/_api`, so the prefix is kept).
    /// - Parameter stateDirectory: where the meter logs and the users database go (the
    ///   working directory for `gatehouse demo`, so `meter report --dir ./meter` works).
    public static func configuration(
        listen: ListenAddress, adminListen: ListenAddress, upstream: SocketAddress, ownerKey: String, stateDirectory: String = "."
    ) -> GatehouseConfiguration {
        let port = upstream.port ?? 0
        let url = UpstreamURL(scheme: .http, host: "127.0.0.1", port: port)
        var auth = AuthConfiguration()
        auth.mode = .dev
        let app = AppConfiguration(
            id: "app_demo", org: "org_demo", upstream: url,
            api: APIConfiguration(upstream: url, prefix: "/_api", stripPrefix: false, ownerKey: Secret(ownerKey)),
            auth: auth
        )
        var config = GatehouseConfiguration(listen: listen, adminListen: adminListen, apps: [app])
        config.metering.dir = stateDirectory + "/meter"
        config.users.store = "sqlite:" + stateDirectory + "/gatehouse.db"
        config.drainTimeoutMs = 5_000
        return config
    }

    public func run() async throws {
        let session = try await DemoSession.start(listen: listen, adminListen: adminListen, logger: logger)
        print(session.banner)
        try? await gracefulShutdown()
        await session.stop()
    }
}

/// A running demo: upstream, Gatehouse, and the banner with ready `curl` lines built
/// from the addresses actually bound.
public struct DemoSession: Sendable {
    public let instance: GatehouseInstance
    public let upstream: DemoUpstream
    public let banner: String
    private let group: MultiThreadedEventLoopGroup

    public static func start(listen: ListenAddress, adminListen: ListenAddress, logger: Logger, stateDirectory: String = ".") async throws -> DemoSession {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let ownerKey = "sk_demo_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let upstream: DemoUpstream
        do {
            upstream = try await DemoUpstream.start(group: group, ownerKey: ownerKey)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let config = DemoRunner.configuration(
            listen: listen, adminListen: adminListen, upstream: upstream.address, ownerKey: ownerKey, stateDirectory: stateDirectory
        )
        let instance: GatehouseInstance
        do {
            instance = try await GatehouseInstance.start(configuration: config, logger: logger)
        } catch {
            await upstream.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        let base = "http://\(listen.host):\(instance.proxyAddress.port ?? listen.port)"
        let admin = "http://\(adminListen.host):\(instance.adminAddress.port ?? adminListen.port)"
        var token = "<mint failed>"
        if let dev = instance.runtime.apps.first?.devIssuer,
           let minted = try? dev.mint(email: "demo@example.com", name: "Demo User", now: SystemClock.now()) {
            token = minted.token
        }
        let banner = """
            Gatehouse demo is running on \(base) (admin on \(admin)).
            Open \(base)/ in a browser, or:

              # 200: a dev token for demo@example.com (valid 1 h)
              curl -s -H 'Authorization: Bearer \(token)' \(base)/_api/hello

              # 401: no token
              curl -s -i \(base)/_api/hello

              # a fresh token for another user
              curl -s -X POST -H 'Content-Type: application/json' -d '{"email":"you@example.com","name":"You"}' \(base)/_auth/dev/token

            Ctrl-C stops it.
            """
        return DemoSession(instance: instance, upstream: upstream, banner: banner, group: group)
    }

    public func stop() async {
        await instance.shutdown()
        await upstream.stop()
        try? await group.shutdownGracefully()
    }
}
