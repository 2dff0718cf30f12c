import NIOCore
import NIOHTTP1

/// Keep-alive connections to the upstreams, one pool per event loop (so acquiring one
/// never crosses threads and needs no lock).
///
/// A connection returns here only after an exchange whose request was fully sent and
/// whose response was framed cleanly and allowed keep-alive; anything else is closed.
/// Idle connections close after `idleTimeout`, and each upstream keeps at most
/// `maxIdlePerUpstream`.
final class UpstreamConnectionPool {
    struct Lease {
        let channel: Channel
        let handler: UpstreamHandler
        /// Whether the connection served an earlier exchange (a stale one may fail on first use).
        let reused: Bool
    }

    private struct Idle {
        let channel: Channel
        let handler: UpstreamHandler
        let timer: Scheduled<Void>
    }

    private let eventLoop: EventLoop
    private let idleTimeout: TimeAmount
    private let maxIdlePerUpstream: Int
    private var idle: [ObjectIdentifier: [Idle]] = [:]

    init(eventLoop: EventLoop, idleTimeout: TimeAmount, maxIdlePerUpstream: Int = 64) {
        self.eventLoop = eventLoop
        self.idleTimeout = idleTimeout
        self.maxIdlePerUpstream = maxIdlePerUpstream
    }

    /// A pooled connection if one is alive (answered synchronously), else a new one.
    /// Runs on the pool's loop; `completion` runs there too.
    func acquire(_ endpoint: UpstreamEndpoint, connectTimeout: TimeAmount, completion: @escaping (Result<Lease, Error>) -> Void) {
        let key = ObjectIdentifier(endpoint)
        while var list = idle[key], let candidate = list.popLast() {
            idle[key] = list
            candidate.timer.cancel()
            if candidate.channel.isActive && candidate.handler.isUsable {
                completion(.success(Lease(channel: candidate.channel, handler: candidate.handler, reused: true)))
                return
            }
            candidate.channel.close(promise: nil)
        }
        endpoint.connect(on: eventLoop, connectTimeout: connectTimeout) { channel in
            try channel.pipeline.syncOperations.addHandler(UpstreamHandler())
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                do {
                    let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
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
        let key = ObjectIdentifier(endpoint)
        guard lease.channel.isActive, lease.handler.isUsable, (idle[key]?.count ?? 0) < maxIdlePerUpstream else {
            lease.channel.close(promise: nil)
            return
        }
        let channel = lease.channel
        let timer = eventLoop.assumeIsolated().scheduleTask(in: idleTimeout) { [weak self] in
            self?.drop(channel, key: key)
            channel.close(promise: nil)
        }
        idle[key, default: []].append(Idle(channel: channel, handler: lease.handler, timer: timer))
    }

    private func drop(_ channel: Channel, key: ObjectIdentifier) {
        idle[key]?.removeAll { $0.channel === channel }
    }

    /// Closes every idle connection (shutdown).
    func closeAll() {
        for (_, list) in idle {
            for entry in list {
                entry.timer.cancel()
                entry.channel.close(promise: nil)
            }
        }
        idle.removeAll()
    }

    var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }
}
