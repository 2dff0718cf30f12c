import Foundation
import GatehouseCore
import GatehouseTesting
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import GatehouseProxy

/// A connection's handlers are freed once it ends, however it ends. They hold each other
/// and their timers hold them strongly (a `weak` reference gives an object a side table,
/// which makes each of its retains and releases the slow kind): the upstream connection's
/// handler holds the client's while an exchange uses it, each timer's task holds its
/// handler. Each cycle is broken by hand — at the connection's release to the pool, its
/// drop, its handler's removal, the timers' cancelling — and a path that missed one would
/// keep a closed connection's handlers (and its pipeline) alive. Real sockets, the
/// production pipeline (``ProxyServer/configureConnection(_:loop:logger:)``) on a real loop.
@Suite struct HandlerLifetimeTests {
    /// The handlers of the connections the rig accepted, referenced weakly (read on the loop).
    final class Seen: @unchecked Sendable {
        struct Connection {
            weak var proxy: ProxyHandler?
            weak var timeouts: ClientTimeoutHandler?
        }
        var connections: [Connection] = []
        /// The upstream connections' handlers, from the pool's leases.
        var upstreams: [() -> UpstreamHandler?] = []

        var allFreed: Bool {
            connections.allSatisfy { $0.proxy == nil && $0.timeouts == nil } && upstreams.allSatisfy { $0() == nil }
        }
    }

    /// A listener on 127.0.0.1 with Gatehouse's client pipeline in front of `upstream`
    /// (the app route: no token needed), on one loop of its own.
    struct Rig {
        let group: MultiThreadedEventLoopGroup
        let loop: EventLoop
        let server: Channel
        let seen: Seen

        static func start(upstream: TestHTTPServer) async throws -> Rig {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let loop = group.next()
            var config = APIGateTests.configuration()
            config.upstream = try #require(UpstreamURL(parsing: upstream.url))
            let app = try AppRuntime(config: config, index: 0, keySource: nil, devIssuer: nil)
            // Every timer far longer than ``everythingFreed(_:)`` waits: a handler that
            // only a timer's task still held would be freed when it fired.
            var limits = GatehouseConfiguration()
            limits.limits.clientHeaderTimeoutMs = 600_000
            limits.limits.idleTimeoutMs = 600_000
            limits.limits.upstreamResponseTimeoutMs = 600_000
            let settings = ProxySettings(configuration: limits, clock: { Date().timeIntervalSince1970 })
            let seen = Seen()
            let context = try await loop.submit {
                NIOLoopBound(
                    LoopContext(eventLoop: loop, runtime: ProxyRuntime(apps: [app]), settings: settings),
                    eventLoop: loop
                )
            }.get()
            let server = try await ServerBootstrap(group: group)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try ProxyServer.configureConnection(channel, loop: context.value, logger: .init(label: "lifetime"))
                        let sync = channel.pipeline.syncOperations
                        seen.connections.append(.init(proxy: try sync.handler(type: ProxyHandler.self), timeouts: try sync.handler(type: ClientTimeoutHandler.self)))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            return Rig(group: group, loop: loop, server: server, seen: seen)
        }

        var port: Int { server.localAddress?.port ?? 0 }

        /// Starts a rig in front of `upstream` and sends it one request; returns once the
        /// upstream has it and the exchange holds the upstream connection (noted in ``seen``).
        static func exchangeInFlight(upstream: TestHTTPServer) async throws -> (Rig, RawConnection) {
            let rig = try await Rig.start(upstream: upstream)
            let client = try await RawConnection.connect(port: rig.port)
            try await client.send(HandlerLifetimeTests.request)
            #expect(try await GateRig.poll { upstream.requests.count == 1 })
            #expect(try await rig.noteUpstreams() == 1, "the exchange holds an upstream connection")
            return (rig, client)
        }

        /// Notes the upstream connections' handlers the exchanges hold; returns how many
        /// are noted.
        func noteUpstreams() async throws -> Int {
            try await loop.submit {
                for connection in seen.connections {
                    guard let proxy = connection.proxy else { continue }
                    switch proxy.state {
                    case .forwarding(let exchange), .pending(let exchange):
                        if let handler = exchange.lease?.handler {
                            seen.upstreams.append { [weak handler] in handler }
                        }
                    default:
                        break
                    }
                }
                return seen.upstreams.count
            }.get()
        }

        /// Whether every handler seen is gone, waiting (10 s at most) for the loop to get there.
        func everythingFreed(_ condition: @escaping @Sendable (Seen) -> Bool = { $0.allFreed }) async throws -> Bool {
            try await GateRig.poll(timeout: .seconds(10)) { (try? await loop.submit { condition(seen) }.get()) ?? false }
        }

        func stop() async throws {
            try await server.close()
            try await group.shutdownGracefully()
        }
    }

    static let request = "GET /page HTTP/1.1\r\nHost: app.test\r\n\r\n"

    /// The client leaves while the upstream still owes its answer: the exchange was
    /// forwarding, with the upstream connection's handler holding the client's and the
    /// upstream-timeout timer scheduled.
    @Test func aClientThatLeavesMidExchangeLeavesNothingBehind() async throws {
        let upstream = try await TestHTTPServer.start { _ in .hang }
        let (rig, client) = try await Rig.exchangeInFlight(upstream: upstream)
        await client.close()
        #expect(try await rig.everythingFreed())
        #expect(try await GateRig.poll { upstream.closedConnectionCount == 1 }, "the dropped upstream connection closes")
        try await rig.stop()
        await upstream.stop()
    }

    /// Two exchanges on one kept-alive client connection share one pooled upstream
    /// connection, which outlives the client's: the pool's idle connection must not hold
    /// the client's handler.
    @Test func aPooledUpstreamConnectionHoldsNoClientHandler() async throws {
        let upstream = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let rig = try await Rig.start(upstream: upstream)
        let client = try await RawConnection.connect(port: rig.port)
        for _ in 0..<2 {
            try await client.send(Self.request)
            let response = try await client.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "ok")
        }
        #expect(upstream.connectionCount == 1, "the second exchange reused the pooled connection")
        await client.close()
        // The pooled connection's handler stays (the pool holds it); the client's go.
        #expect(try await rig.everythingFreed { $0.connections.count == 1 && $0.connections.allSatisfy { $0.proxy == nil && $0.timeouts == nil } })
        #expect(upstream.closedConnectionCount == 0, "the upstream connection is still pooled")
        try await rig.stop()
        await upstream.stop()
    }

    /// The upstream closes partway through its response: the client's connection is cut
    /// and both connections' handlers go.
    @Test func anUpstreamThatBreaksOffLeavesNothingBehind() async throws {
        let gate = TestGate()
        let upstream = try await TestHTTPServer.start { _ in
            .gated(gate, then: .partialBody(body: Array("part".utf8), declared: 1000, thenClose: true))
        }
        let (rig, client) = try await Rig.exchangeInFlight(upstream: upstream)
        gate.open()
        let received = String(decoding: try await client.readUntilClose(), as: UTF8.self)
        #expect(received.hasPrefix("HTTP/1.1 200"), "the head was forwarded, then the connection cut")
        #expect(received.hasSuffix("part"))
        #expect(try await rig.everythingFreed())
        await client.close()
        try await rig.stop()
        await upstream.stop()
    }
}
