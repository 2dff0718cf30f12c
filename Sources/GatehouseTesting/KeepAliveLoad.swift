import NIOConcurrencyHelpers

/// Closed-loop load for tests that change something under traffic (a reload, a restart):
/// `workers` kept-alive connections each send the request `request(worker, i)` builds,
/// one after the other, until ``stop()``. Every answer that is not the expected status,
/// and every connection error, is a failure.
public final class KeepAliveLoad: Sendable {
    public struct Outcome: Sendable {
        public var ok = 0
        public var failures: [String] = []
    }

    private let outcome = NIOLockedValueBox(Outcome())
    private let stopping = NIOLockedValueBox(false)
    private let task: Task<Void, Never>

    public init(port: Int, workers: Int = 8, expecting status: Int = 200, request: @escaping @Sendable (_ worker: Int, _ i: Int) -> String) {
        let outcome = self.outcome
        let stopping = self.stopping
        task = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        do {
                            let connection = try await RawConnection.connect(port: port)
                            var i = 0
                            while !stopping.withLockedValue({ $0 }) {
                                try await connection.send(request(worker, i))
                                let response = try await connection.readResponse()
                                i += 1
                                outcome.withLockedValue {
                                    if response.status == status { $0.ok += 1 } else { $0.failures.append("status \(response.status): \(response.text)") }
                                }
                            }
                            await connection.close()
                        } catch {
                            outcome.withLockedValue { $0.failures.append("worker \(worker): \(error)") }
                        }
                    }
                }
            }
        }
    }

    /// Answers with the expected status so far.
    public var ok: Int { outcome.withLockedValue { $0.ok } }

    /// What happened so far, while the load runs (for a failing test to say why).
    public var soFar: Outcome { outcome.withLockedValue { $0 } }

    /// Waits (bounded) until `count` more requests succeeded than when called.
    public func waitForTraffic(_ count: Int) async throws {
        let start = ok
        try await GateRig.poll { self.ok >= start + count }
    }

    /// Ends the load after each worker's current request; what happened.
    public func stop() async -> Outcome {
        stopping.withLockedValue { $0 = true }
        await task.value
        return outcome.withLockedValue { $0 }
    }
}
