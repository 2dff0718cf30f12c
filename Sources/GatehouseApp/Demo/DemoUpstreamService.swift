import GatehouseCore
import Logging
import NIOPosix
import ServiceLifecycle

/// The demo upstream alone (`gatehouse demo-upstream`), on a fixed address: a fast,
/// known upstream for benchmarks (scripts/bench.sh) to measure directly and through a
/// `gatehouse serve` in front of it. Runs until SIGTERM/SIGINT.
public struct DemoUpstreamService: Service {
    public let listen: ListenAddress
    let ownerKey: String
    let eventLoops: Int
    let logger: Logger
    let print: @Sendable (String) -> Void

    public init(listen: ListenAddress, ownerKey: String, eventLoops: Int = 1, logger: Logger, print: @escaping @Sendable (String) -> Void) {
        self.listen = listen
        self.ownerKey = ownerKey
        self.eventLoops = eventLoops
        self.logger = logger
        self.print = print
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, eventLoops))
        let upstream: DemoUpstream
        do {
            upstream = try await DemoUpstream.start(group: group, ownerKey: ownerKey, host: listen.host, port: listen.port)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        print("demo upstream listening on \(upstream.address)")
        try? await gracefulShutdown()
        await upstream.stop()
        try? await group.shutdownGracefully()
    }
}
