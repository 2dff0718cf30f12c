import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import NIOConcurrencyHelpers

/// Shared set-up for the transport tests: Gatehouse in front of test upstreams with a
/// server-to-server api key as the credential (no JWKS involved, so nothing but the
/// transport is under test).
enum TransportRig {
    static let apiKey = "gk_transport_test_3c9d41f07a"
    static let apiKeyHash = APIKeyHash.hex(Array(apiKey.utf8))
    static var bearer: [(String, String)] { [("Authorization", "Bearer " + apiKey)] }

    /// jwt mode without any key source: only the api key gets through.
    static var auth: AuthConfiguration {
        var auth = AuthConfiguration()
        auth.mode = .jwt
        auth.apiKeys = [APIKeyConfiguration(name: "transport", sha256: apiKeyHash)]
        return auth
    }

    static func start(
        app: String = "http://127.0.0.1:1", api: String, configure: (inout GatehouseConfiguration) -> Void = { _ in }
    ) async throws -> TestGatehouse {
        let config = TestGatehouse.configuration(appUpstream: app, apiUpstream: api, auth: auth, configure: configure)
        return try await TestGatehouse.start(config)
    }

    /// `Tests/GatehouseProxyTests/Fixtures/<name>`.
    static func fixture(_ name: String, filePath: String = #filePath) -> String {
        URL(fileURLWithPath: filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
            .appendingPathComponent(name).path
    }

    /// `count` authorised `GET`s started at once, each on a connection of its own (path
    /// `prefix/<i>`), for tests that hold them all at a gated upstream. Every request's
    /// outcome is kept: one that fails does not cancel the rest (a task group's first error
    /// did, and the batch then never arrived whole — a wait for it could only time out,
    /// saying nothing), and a test waiting for the batch can stop as soon as any request
    /// ends before its upstream answered, and say which and why.
    final class RequestBatch: Sendable {
        struct Outcomes: Sendable {
            var statuses: [Int] = []
            var failures: [String] = []
            var ended: Int { statuses.count + failures.count }
        }

        private let outcomes: NIOLockedValueBox<Outcomes>
        private let task: Task<Void, Never>

        /// `timeout`: how long each response may take; a batch held at a gated upstream
        /// passes the bound of the test's wait for it.
        init(port: Int, count: Int, prefix: String, timeout: Duration = GateRig.pollTimeout) {
            let outcomes = NIOLockedValueBox(Outcomes())
            self.outcomes = outcomes
            task = Task {
                await withTaskGroup(of: Void.self) { group in
                    for i in 0..<count {
                        group.addTask {
                            do {
                                let status = try await RawConnection.request(port: port, "GET", "\(prefix)/\(i)", headers: TransportRig.bearer, timeout: timeout).status
                                outcomes.withLockedValue { $0.statuses.append(status) }
                            } catch {
                                outcomes.withLockedValue { $0.failures.append("\(prefix)/\(i): \(error)") }
                            }
                        }
                    }
                }
            }
        }

        /// What has ended so far (answered or failed).
        var sofar: Outcomes { outcomes.withLockedValue { $0 } }

        /// Waits until the whole batch is held at its gated upstream (`held`: how many of
        /// its requests the upstream has), until any request ends first (answered by
        /// Gatehouse itself, or failed), or for `timeout`: `nil` when the batch is held
        /// whole, else what happened, for the test's failure.
        func waitUntilHeld(count: Int, timeout: Duration = GateRig.pollTimeout, _ held: @escaping @Sendable () -> Int) async -> String? {
            _ = try? await GateRig.poll(timeout: timeout) { held() >= count || self.sofar.ended > 0 }
            let early = sofar
            let now = held()
            if now == count && early.ended == 0 { return nil }
            return "\(now) of \(count) at the upstream; ended early: \(early.statuses) \(early.failures.prefix(5))"
        }

        /// Every request's outcome, once all have ended.
        func outcome() async -> Outcomes {
            await task.value
            return sofar
        }
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` passes (a bound against
    /// a hung test, not a timing assertion); returns whether it held.
    static func eventually(timeout: Duration = GateRig.pollTimeout, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return await condition()
    }

    /// Polls `value` every 50 ms until it stops changing (the same for 300 ms) and
    /// returns it: how far a transfer got once backpressure stalled it. Bounded by
    /// `timeout` (then returns the last value).
    static func settled(timeout: Duration = .seconds(30), _ value: () -> Int) async -> Int {
        let deadline = ContinuousClock.now + timeout
        var last = value()
        var unchanged = 0
        while ContinuousClock.now < deadline, unchanged < 6 {
            try? await Task.sleep(for: .milliseconds(50))
            let now = value()
            unchanged = now == last ? unchanged + 1 : 0
            last = now
        }
        return last
    }

    /// Whether a TCP connect to `port` is refused now.
    static func connectRefused(port: Int) async -> Bool {
        do {
            let connection = try await RawConnection.connect(port: port)
            await connection.close()
            return false
        } catch {
            return true
        }
    }
}
