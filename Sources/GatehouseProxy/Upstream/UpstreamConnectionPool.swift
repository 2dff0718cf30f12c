import NIOCore
import NIOHTTP1

/// Keep-alive connections to the upstreams, one pool per event loop (so acquiring one
/// never crosses threads and needs no lock).
///
/// A connection returns here only after an exchange whose request was fully sent and
/// whose response was framed cleanly and allowed keep-alive; anything else is closed.
/// Idle connections close after `idleTimeout`, and each upstream keeps at most
/// `maxIdlePerUpstream`: a bound well above the exchanges one loop has in flight to one
/// upstream under heavy load, because a cap below that concurrency closes the surplus
/// after every wave and reconnects it (nginx's `keepalive N` trap: CPU per request
/// doubled at 256 connections, and TIME_WAIT sockets pile up toward ephemeral-port
/// exhaustion). Envoy's default connection limit is the same 1024.
final class UpstreamConnectionPool {
    struct Lease {
        let channel: Channel
        let handler: UpstreamHandler
        /// Whether the connection served an earlier exchange (a stale one may fail on first use).
        let reused: Bool

        /// Detaches the connection from its exchange's handler, then closes it. Detached
        /// first: the close reaches the upstream handler later (at once, or when the close
        /// completes), and by then the client connection may be forwarding its next
        /// request — heard as that exchange's upstream closing, it failed a healthy
        /// request with a 502 (a response delimited by the close, a request pipelined
        /// behind it; `DesyncAudit2Tests`).
        func close() {
            handler.owner = nil
            channel.close(promise: nil)
        }
    }

    private struct Idle {
        let channel: Channel
        let handler: UpstreamHandler
        /// When it was returned; it closes once idle for `idleTimeout`.
        let since: NIODeadline
    }

    private let eventLoop: EventLoop
    /// A reload's new value applies from the next sweep on (``retire(keeping:idleTimeout:)``).
    private var idleTimeout: TimeAmount
    private let maxIdlePerUpstream: Int
    /// The loop's spare head buffer, handed to each new connection's request encoder.
    private let headBuffers: HeadBufferRecycler
    /// One upstream's idle connections, oldest first; ``takeIdle(_:)`` takes the newest (the
    /// least likely to have been closed by the upstream meanwhile), so expired ones collect
    /// at the front.
    private struct Upstream {
        /// Held, not only named: while its connections wait here no other endpoint can be
        /// made at its address. Keyed by `ObjectIdentifier` alone, an endpoint of a replaced
        /// configuration was freed while its connections waited, and a later reload's
        /// endpoint made at the same address took them over — its app's requests, owner
        /// key included, went to the old upstream.
        let endpoint: UpstreamEndpoint
        var idle: [Idle]
    }

    /// Every upstream with idle connections, found by identity. A list, not a dictionary:
    /// a loop talks to a handful of upstreams, and hashing the key (SipHash) then probing
    /// cost ~150 instructions per lookup, two per exchange. An entry whose list empties
    /// goes at the next sweep (or when its last connection expires). Never `nil` but
    /// inside ``withIdle(_:)``.
    private var idle: [Upstream]? = []
    /// One sweep per loop closes expired connections, rather than a timer scheduled on
    /// every release and cancelled on every take (two timer-heap operations and an
    /// allocation per request).
    private var sweeper: Scheduled<Void>?

    /// The loop's (``LoopContext``), handed to each new connection; `nil`: its flushes
    /// are made at once.
    private let flushes: DeferredFlushes?

    /// The endpoints of the configuration this loop serves, once a reload has replaced the
    /// first one (`nil` until then: every endpoint is current). A connection to any other
    /// is closed when its exchange ends instead of pooled: nothing will ask for it again.
    private var current: [UpstreamEndpoint]?

    init(
        eventLoop: EventLoop, idleTimeout: TimeAmount, maxIdlePerUpstream: Int = 1024,
        headBuffers: HeadBufferRecycler = HeadBufferRecycler(), flushes: DeferredFlushes? = nil
    ) {
        self.eventLoop = eventLoop
        self.headBuffers = headBuffers
        self.flushes = flushes
        self.idleTimeout = idleTimeout
        self.maxIdlePerUpstream = maxIdlePerUpstream
    }

    /// A kept-alive connection to `endpoint`, if one is idle and still usable — the usual
    /// case under load, taken synchronously (no completion closure to allocate).
    func takeIdle(_ endpoint: UpstreamEndpoint) -> Lease? {
        // Popped in place through the entry's index (copying the list out would copy its
        // storage). Only ``closeExpired(now:)`` and ``closeAll()`` remove entries, and
        // neither runs from inside this loop's closes, so the index holds throughout.
        guard let index = withIdle({ Self.index(of: endpoint, in: $0) }) else { return nil }
        var decoding: [Idle] = []
        defer { if !decoding.isEmpty { withIdle { $0[index].idle.append(contentsOf: decoding.reversed()) } } }
        while let candidate = withIdle({ $0[index].idle.popLast() }) {
            if candidate.handler.inRead {
                // Released from inside its own read (a pipelined request is handed over the
                // moment the response ends): the rest of that read is still to be decoded,
                // and bytes behind the response would answer this request — or fail the
                // connection under it after the upstream ran it. It stays idle for later.
                decoding.append(candidate)
                continue
            }
            if candidate.channel.isActive && candidate.handler.isUsable {
                return Lease(channel: candidate.channel, handler: candidate.handler, reused: true)
            }
            candidate.channel.close(promise: nil)
        }
        return nil
    }

    /// A new connection to `endpoint` (when ``takeIdle(_:)`` had none). Runs on the
    /// pool's loop; `completion` runs there too.
    func connect(_ endpoint: UpstreamEndpoint, connectTimeout: TimeAmount, completion: @escaping (Result<Lease, Error>) -> Void) {
        endpoint.connect(on: eventLoop, connectTimeout: connectTimeout) { channel in
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(UpstreamHandler(
                encoder: try sync.handler(type: UpstreamRequestEncoder.self), decoder: try sync.handler(type: HTTPResponseDecodingHandler.self)
            ))
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                do {
                    let sync = channel.pipeline.syncOperations
                    let handler = try sync.handler(type: UpstreamHandler.self)
                    // Set here, on the loop, before the first write (the initializer above
                    // runs as a `Sendable` closure, which cannot take the loop's recycler).
                    try sync.handler(type: UpstreamRequestEncoder.self).headBuffers = self.headBuffers
                    handler.flushes = self.flushes
                    completion(.success(Lease(channel: channel, handler: handler, reused: false)))
                } catch {
                    channel.close(promise: nil)
                    completion(.failure(error))
                }
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }

    /// Returns a clean connection for reuse.
    func release(_ endpoint: UpstreamEndpoint, lease: Lease) {
        lease.handler.owner = nil
        lease.handler.resumeReads()
        let (index, count) = withIdle { idle in
            let index = Self.index(of: endpoint, in: idle)
            return (index, index.map { idle[$0].idle.count } ?? 0)
        }
        // An endpoint with nothing idle is looked for among the current ones: one a reload
        // replaced has no entry (``retire(keeping:idleTimeout:)`` removed it) and gets none.
        guard lease.channel.isActive, lease.handler.isUsable, count < maxIdlePerUpstream,
              index != nil || isCurrent(endpoint) else {
            lease.channel.close(promise: nil)
            return
        }
        let entry = Idle(channel: lease.channel, handler: lease.handler, since: .now())
        // In place through the index, as in `takeIdle`.
        withIdle { idle in
            if let index {
                idle[index].idle.append(entry)
            } else {
                idle.append(Upstream(endpoint: endpoint, idle: [entry]))
            }
        }
        if sweeper == nil { startSweeping() }
    }

    /// Every quarter of the idle timeout (at most 1 s) while anything is idle, closes what
    /// has been idle for the whole timeout: a connection closes between `idleTimeout` and
    /// 1.25 × it.
    private func startSweeping() {
        let period = min(TimeAmount.seconds(1), TimeAmount.nanoseconds(max(idleTimeout.nanoseconds / 4, 1_000_000)))
        // `self` held strongly, until the task runs or `closeAll` cancels it: a `weak`
        // capture would give the pool a side table, making each of its retains (a few per
        // request) the slow kind.
        sweeper = eventLoop.assumeIsolated().scheduleTask(in: period) { [self] in
            self.sweeper = nil
            self.closeExpired(now: .now())
            if self.idle?.isEmpty == false { self.startSweeping() }
        }
    }

    private func closeExpired(now: NIODeadline) {
        let limit = now - idleTimeout
        // The expired taken out first, and the upstreams left with nothing dropped (their
        // endpoints with them); then closed: a close may call back into the pool.
        let expired: [Idle] = withIdle { idle in
            var expired: [Idle] = []
            for index in idle.indices {
                let count = idle[index].idle.prefix { $0.since <= limit }.count
                expired.append(contentsOf: idle[index].idle.prefix(count))
                idle[index].idle.removeFirst(count)
            }
            idle.removeAll { $0.idle.isEmpty }
            return expired
        }
        for entry in expired { entry.channel.close(promise: nil) }
    }

    /// After a reload (on the loop, as it installs the new snapshot): closes the idle
    /// connections of every endpoint not in `endpoints` — each reload builds its endpoints
    /// anew, so those are the replaced configuration's, which no request will ask for
    /// again; left to the idle timeout, a deployment reloading every few seconds under
    /// load held one set of dead upstream sockets per reload (`scripts/soak.sh`). Exchanges
    /// still running on such a connection close it when they end (``release(_:lease:)``).
    /// As nginx's reload does, by its old workers' exit; the new configuration's
    /// connections are opened as requests need them.
    func retire(keeping endpoints: [UpstreamEndpoint], idleTimeout: TimeAmount) {
        current = endpoints
        self.idleTimeout = idleTimeout
        // Taken out before any is closed: a close may call back into the pool.
        let retired: [Upstream] = withIdle { idle in
            var retired: [Upstream] = []
            idle.removeAll { entry in
                guard !endpoints.contains(where: { $0 === entry.endpoint }) else { return false }
                retired.append(entry)
                return true
            }
            return retired
        }
        for upstream in retired {
            for entry in upstream.idle { entry.channel.close(promise: nil) }
        }
    }

    private func isCurrent(_ endpoint: UpstreamEndpoint) -> Bool {
        guard let current else { return true }
        return current.contains { $0 === endpoint }
    }

    /// Closes every idle connection (shutdown).
    func closeAll() {
        sweeper?.cancel()
        sweeper = nil
        // Taken out before any is closed: a close may call back into the pool.
        let all = withIdle { idle in
            let all = idle
            idle = []
            return all
        }
        for upstream in all {
            for entry in upstream.idle { entry.channel.close(promise: nil) }
        }
    }

    var idleCount: Int { withIdle { $0.reduce(0) { $0 + $1.idle.count } } }

    private static func index(of endpoint: UpstreamEndpoint, in idle: [Upstream]) -> Int? {
        idle.firstIndex { $0.endpoint === endpoint }
    }

    /// Runs `body` on the idle lists moved out (`take()`) and back. Why: the arrays' methods
    /// call into the standard library, and an access to a class's
    /// stored property spanning such a call is checked at run time (`swift_beginAccess`,
    /// ~75 instructions, four per `/_api` exchange here); moved, every access is a load or a
    /// store the whole-module optimizer proves exclusive (`Benchmarks/README.md`,
    /// twenty-first round). Only array operations run inside: closing a
    /// connection, which may call back into the pool, never does.
    @inline(__always)
    private func withIdle<Result>(_ body: (inout [Upstream]) -> Result) -> Result {
        guard var idle = self.idle.take() else { preconditionFailure("upstream pool's idle lists re-entered") }
        let result = body(&idle)
        self.idle = consume idle
        return result
    }
}
