import NIOCore

/// A writer whose flush can wait for the end of its event loop's tick
/// (``DeferredFlushes``).
protocol DeferredFlushing: AnyObject {
    /// Flushes what was written since the flush was deferred. Called once per
    /// ``DeferredFlushes/defer(_:)`` that returned `true`, at the end of the tick.
    func flushDeferred()
}

/// The flushes of one event loop's tick after its first, made together once every event
/// the loop was woken for has been handled — as Envoy's connections write when the
/// dispatcher's iteration ends rather than inside each callback.
///
/// Why: a write to a peer on this machine (the client, the upstream) runs the peer's
/// receive path on the writing core — its socket, its `epoll` instance's ready list and
/// lock, a wake-up if it sleeps — data the peer's own core is touching at the same time.
/// Interleaved with the reads and the gate's work, each write pays for bringing that back;
/// made back to back at the end of the tick, they pay once. Measured with wrk and the
/// upstream on the other core (2026-11-27, alternating runs): a forged token's 401 went
/// from 37–43 to 33–35 µs of the proxy core per request, its system time from 10–11 to
/// 5–7 µs; in the anchors' runs, 35.9–37.4 → 31.0–33.1 µs.
///
/// The tick's first flush goes at once: under light load a tick holds one event, and
/// making its response (or upstream request) wait for the tick's end only delayed it —
/// deferring every flush took the median at 4 connections from 133 to 155 µs; with the
/// first at once, 137 µs, the gain under load the same. The wait of the others is
/// bounded by the tick itself: the loop runs its queued tasks right after the events of
/// one `epoll_wait`. A writer that closes, or leaves the pipeline, flushes first, so
/// nothing written is dropped or reordered.
///
/// Confined to its loop (not `Sendable`): one per ``LoopContext``.
final class DeferredFlushes {
    private let eventLoop: EventLoop
    /// What the end-of-tick task works on. Apart from this object so that the task can
    /// hold it strongly without a cycle: a `weak` capture of this object would give it a
    /// side table, and make each of its retains and releases (the handlers call it on
    /// every response) the slow kind.
    private let queue: Queue
    /// Made once: handing the loop a stored closure allocates nothing per tick. Not an
    /// `Optional`: a closure stored in one is kept at the generic abstraction, and every
    /// hand-over allocated two reabstraction thunks.
    private let task: () -> Void
    /// Room for `pending` kept from one tick to the next.
    static let keptCapacity = 256

    /// How many passes have run: a tick's end, for what was written in it
    /// (``HeadBufferRecycler``).
    var passes: UInt64 { queue.passes }

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        let queue = Queue()
        self.queue = queue
        // A task still queued when this object is gone runs its pass all the same.
        task = { queue.run() }
    }

    /// Queues `writer`'s flush for the end of the tick: `true`. `false` for the tick's
    /// first: the writer flushes now. The writer keeps track of whether its flush is
    /// already queued, and calls this only when it is not.
    func `defer`(_ writer: any DeferredFlushing) -> Bool {
        guard queue.scheduled else {
            // The task still marks the tick's end, after which a flush is a first again.
            queue.scheduled = true
            eventLoop.assumeIsolated().execute(task)
            return false
        }
        queue.withPending { $0.append(writer) }
        return true
    }

    private final class Queue {
        /// The writers that deferred a flush during this tick, each once. Never `nil` but
        /// inside ``withPending(_:)``.
        private var pending: [any DeferredFlushing]? = []
        /// The end-of-tick task is queued: this tick has flushed once.
        var scheduled = false
        var passes: UInt64 = 0

        /// Flushes every writer queued so far, in the order they deferred. A flush can
        /// queue another (a response flushed lets the next pipelined request through,
        /// whose answer may be ready at once): those run in the same pass.
        func run() {
            var index = 0
            // Each writer is taken out before its flush, which may queue another.
            while let writer = withPending({ index < $0.count ? $0[index] : nil }) {
                writer.flushDeferred()
                index += 1
            }
            // A burst's worth of room is not kept past it.
            withPending { $0.removeAll(keepingCapacity: $0.count <= DeferredFlushes.keptCapacity) }
            scheduled = false
            passes &+= 1
        }

        /// Runs `body` on the queue moved out (`take()`) and back. Why: the array's growth
        /// calls into the standard library, and an access to a class's stored property
        /// spanning such a call is checked at run time (`swift_beginAccess`, ~75
        /// instructions); moved, every access is a load or a store the whole-module
        /// optimizer proves exclusive (`Benchmarks/README.md`, twenty-first round).
        @inline(__always)
        func withPending<Result>(_ body: (inout [any DeferredFlushing]) -> Result) -> Result {
            guard var pending = self.pending.take() else { preconditionFailure("deferred flushes re-entered") }
            let result = body(&pending)
            self.pending = consume pending
            return result
        }
    }
}
