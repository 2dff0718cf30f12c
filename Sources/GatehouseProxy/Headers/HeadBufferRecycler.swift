import DequeModule
import NIOCore

/// One event loop's spare buffers for serialized heads, so a head usually goes into memory
/// an earlier head left rather than into a fresh allocation.
///
/// Every request Gatehouse forwards and every response it answers had its head written
/// into a new buffer: an object, its memory and, as the head's size is known only once it
/// is framed, a reallocation — three `malloc`-family calls per head, two heads per
/// exchange. A spare is handed out cleared, written into, written to the socket and
/// given back. The loop flushes at the end of its tick (``DeferredFlushes``), so every
/// head of a tick is held by its write until the tick ends: a spare given back in the
/// current tick is left alone (taking it would only copy it away from its write, and lose
/// it), and the next tick's heads take the earlier ones, oldest first, whose writes have
/// usually completed and released them, so clearing one costs nothing. When a write still
/// holds it (a slow reader's pending bytes, a head held for coalescing), `ByteBuffer`'s
/// copy-on-write clears into fresh memory instead and the pending bytes stay as they are:
/// sharing is never a correctness question, only whether an allocation is saved.
///
/// Per loop rather than per connection: a few buffers serve every connection of the
/// loop, so 10,000 idle connections keep nothing extra. Confined to its loop (not
/// `Sendable`).
final class HeadBufferRecycler {
    /// What a fresh buffer starts with: a proxied API head, with a coalesced small body,
    /// usually fits.
    static let freshCapacity = 1024
    /// A buffer grown past this (a very large head or coalesced body) is not kept, so the
    /// loop never holds more than ``keptCount`` times this for them.
    static let keptCapacity = 8192
    /// Spares kept at most: about the heads of one busy tick.
    static let keptCount = 32

    private struct Spare {
        var buffer: ByteBuffer
        /// ``DeferredFlushes/passes`` when it was given back.
        let pass: UInt64
    }

    private let allocator: ByteBufferAllocator
    /// The loop's flushes, whose count of passes tells the spares given back in this tick;
    /// `nil` (a loop that flushes at once): every spare may be free.
    private let flushes: DeferredFlushes?
    /// Oldest first. A `Deque` (swift-collections), whose `removeFirst()` moves the spare
    /// out: NIO's `CircularBuffer` copies it, then releases the slot's reference (a retain
    /// and a release of every spare taken, two per exchange). Never `nil` but inside
    /// ``withSpares(_:)``.
    private var spares: Deque<Spare>? = Deque(minimumCapacity: 4)

    init(allocator: ByteBufferAllocator = ByteBufferAllocator(), flushes: DeferredFlushes? = nil) {
        self.allocator = allocator
        self.flushes = flushes
    }

    /// An empty buffer to write a head into: the oldest spare given back before this tick,
    /// cleared into fresh memory if a write still holds it; fresh memory when there is none.
    func take() -> ByteBuffer {
        let spare: ByteBuffer? = withSpares { spares in
            // Only the pass is read: a copy of the spare kept alive would be a second holder.
            guard let pass = spares.first?.pass, pass != flushes?.passes else { return nil }
            // Taken out first, so the list's own reference does not count as a second holder.
            return spares.removeFirst().buffer
        }
        guard var buffer = consume spare else { return allocator.buffer(capacity: Self.freshCapacity) }
        buffer.clear(minimumCapacity: Self.freshCapacity)
        return buffer
    }

    /// Keeps `buffer` (already handed to a write) as a spare for a later ``take()``.
    func recycle(_ buffer: ByteBuffer) {
        guard buffer.capacity <= Self.keptCapacity else { return }
        let pass = flushes?.passes ?? 0
        withSpares { spares in
            if spares.count >= Self.keptCount { _ = spares.popFirst() }
            spares.append(Spare(buffer: buffer, pass: pass))
        }
    }

    /// Runs `body` on the spares moved out (`take()`) and back. Why: `Deque`'s methods call
    /// into swift-collections, and an access to a class's stored property spanning such a
    /// call is checked at run time (`swift_beginAccess`, ~75 instructions: twelve per
    /// `/_api` exchange here); moved, each access is a load or a store the whole-module
    /// optimizer proves exclusive. Nothing `body` runs reaches the recycler.
    @inline(__always)
    private func withSpares<Result>(_ body: (inout Deque<Spare>) -> Result) -> Result {
        guard var spares = self.spares.take() else { preconditionFailure("head buffer spares re-entered") }
        let result = body(&spares)
        self.spares = consume spares
        return result
    }
}
