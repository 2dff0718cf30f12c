import GatehouseCore
import GatehouseTesting
import NIOCore
import NIOPosix
import Testing
@testable import GatehouseProxy

/// The loop's pool of kept-alive upstream connections, on a real connection to a real
/// server on 127.0.0.1.
@Suite struct UpstreamConnectionPoolTests {
    /// What a pool keeps after each step, read on the loop.
    struct Kept: Sendable {
        var idleAfterRelease = 0
        var endpointAliveWhileIdle = false
        var takenBack = false
        var endpointAliveAfterClose = true
    }

    /// An endpoint whose connections wait in the pool stays alive as long as they do, so no
    /// other endpoint can take its identity meanwhile. Keyed by `ObjectIdentifier` alone, an
    /// endpoint of a replaced configuration was freed while its connections waited, and a
    /// later reload's endpoint allocated at the same address took them over: requests, with
    /// their app's owner key, went to the old upstream.
    @Test func anEndpointIsKeptAsLongAsItsConnectionsWait() async throws {
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let url = try #require(UpstreamURL(parsing: api.url))
        let kept = try await loop.submit { () -> EventLoopFuture<Kept> in
            let pool = UpstreamConnectionPool(eventLoop: loop, idleTimeout: .seconds(30))
            let done = loop.makePromise(of: Kept.self)
            let weakEndpoint = WeakEndpoint()
            func connect() throws {
                let endpoint = try UpstreamEndpoint(url: url)
                weakEndpoint.value = endpoint
                pool.connect(endpoint, connectTimeout: .seconds(5)) { result in
                    switch result {
                    case .success(let lease):
                        pool.release(endpoint, lease: lease)
                        var kept = Kept()
                        kept.idleAfterRelease = pool.idleCount
                        // The next tick: the connect's own references to the endpoint are gone.
                        loop.assumeIsolated().execute {
                            kept.endpointAliveWhileIdle = weakEndpoint.value != nil
                            if let endpoint = weakEndpoint.value, let lease = pool.takeIdle(endpoint) {
                                kept.takenBack = lease.reused
                                pool.release(endpoint, lease: lease)
                            }
                            pool.closeAll()
                            loop.assumeIsolated().execute {
                                kept.endpointAliveAfterClose = weakEndpoint.value != nil
                                done.succeed(kept)
                            }
                        }
                    case .failure(let error):
                        done.fail(error)
                    }
                }
            }
            do { try connect() } catch { done.fail(error) }
            return done.futureResult
        }.flatMap { $0 }.get()
        #expect(kept.idleAfterRelease == 1)
        #expect(kept.endpointAliveWhileIdle)
        #expect(kept.takenBack)
        // Nothing waits any more: the pool lets the endpoint go.
        #expect(!kept.endpointAliveAfterClose)
        try await group.shutdownGracefully()
        await api.stop()
    }

    /// What a reload leaves in the pool: the kept endpoint's idle connection, and none of
    /// the replaced one's — closed at once, and a connection of it released afterwards
    /// (an exchange that ran across the reload) closed rather than pooled.
    struct Retired: Sendable {
        var idleBefore = 0
        var idleAfterRetire = 0
        var idleAfterLateRelease = 0
        var keptTakenBack = false
        var replacedTakenBack = true
    }

    @Test func retiringAnEndpointClosesItsIdleConnectionsAndRefusesItsLateOnes() async throws {
        let replacedServer = try await TestHTTPServer.start { _ in .fixed(body: "old") }
        let keptServer = try await TestHTTPServer.start { _ in .fixed(body: "new") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let replacedURL = try #require(UpstreamURL(parsing: replacedServer.url))
        let keptURL = try #require(UpstreamURL(parsing: keptServer.url))
        let retired = try await loop.submit { () -> EventLoopFuture<Retired> in
            let pool = UpstreamConnectionPool(eventLoop: loop, idleTimeout: .seconds(600))
            let done = loop.makePromise(of: Retired.self)
            var state = Retired()
            do {
                let replaced = try UpstreamEndpoint(url: replacedURL)
                let kept = try UpstreamEndpoint(url: keptURL)
                pool.connect(replaced, connectTimeout: .seconds(5)) { first in
                    pool.connect(replaced, connectTimeout: .seconds(5)) { late in
                        pool.connect(kept, connectTimeout: .seconds(5)) { keptLease in
                            guard case .success(let first) = first, case .success(let late) = late,
                                  case .success(let keptLease) = keptLease else {
                                return done.fail(ConnectFailed())
                            }
                            pool.release(replaced, lease: first)
                            pool.release(kept, lease: keptLease)
                            state.idleBefore = pool.idleCount
                            pool.retire(keeping: [kept], idleTimeout: .seconds(600))
                            state.idleAfterRetire = pool.idleCount
                            // `late` was leased across the "reload".
                            pool.release(replaced, lease: late)
                            state.idleAfterLateRelease = pool.idleCount
                            state.replacedTakenBack = pool.takeIdle(replaced) != nil
                            state.keptTakenBack = pool.takeIdle(kept)?.reused == true
                            done.succeed(state)
                        }
                    }
                }
            } catch {
                done.fail(error)
            }
            return done.futureResult
        }.flatMap { $0 }.get()
        #expect(retired.idleBefore == 2)
        #expect(retired.idleAfterRetire == 1)
        #expect(retired.idleAfterLateRelease == 1)
        #expect(!retired.replacedTakenBack)
        #expect(retired.keptTakenBack)
        // Both of the replaced upstream's connections closed; the kept one's is open.
        let closed = try await GateRig.poll { replacedServer.closedConnectionCount == 2 }
        #expect(closed)
        #expect(keptServer.closedConnectionCount == 0)
        try await group.shutdownGracefully()
        await replacedServer.stop()
        await keptServer.stop()
    }
    /// A reload's `limits.idle_timeout_ms` reaches the pool: a connection idle since before
    /// the reload closes on the new timeout (the pool kept the one it was made with).
    @Test func aReloadsIdleTimeoutAppliesToConnectionsAlreadyIdle() async throws {
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let url = try #require(UpstreamURL(parsing: api.url))
        let idle = try await loop.submit { () -> EventLoopFuture<Int> in
            let pool = UpstreamConnectionPool(eventLoop: loop, idleTimeout: .seconds(600))
            let done = loop.makePromise(of: Int.self)
            do {
                let endpoint = try UpstreamEndpoint(url: url)
                pool.connect(endpoint, connectTimeout: .seconds(5)) { result in
                    guard case .success(let lease) = result else { return done.fail(ConnectFailed()) }
                    pool.release(endpoint, lease: lease)
                    pool.retire(keeping: [endpoint], idleTimeout: .milliseconds(100))
                    done.succeed(pool.idleCount)
                }
            } catch {
                done.fail(error)
            }
            return done.futureResult
        }.flatMap { $0 }.get()
        // Kept by the reload (its endpoint is current), then closed by the sweep.
        #expect(idle == 1)
        let closed = try await GateRig.poll { api.closedConnectionCount == 1 }
        #expect(closed)
        try await group.shutdownGracefully()
        await api.stop()
    }
}


private struct ConnectFailed: Error {}

/// A weak reference the test's loop closures share.
private final class WeakEndpoint: @unchecked Sendable {
    weak var value: UpstreamEndpoint?
}
