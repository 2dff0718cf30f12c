import NIOCore

/// One event loop's spare buffer for serialized heads, so a head usually goes into memory
/// an earlier head left rather than into a fresh allocation.
///
/// Every request Gatehouse forwards and every response it answers had its head written
/// into a new buffer: an object, its memory and, as the head's size is known only once it
/// is framed, a reallocation — three `malloc`-family calls per head, two heads per
/// exchange. The spare is handed out cleared, written into, written to the socket and
/// given back; by the next head the socket write has usually completed and released it,
/// so clearing it costs nothing. When a write still holds it (a slow reader's pending
/// bytes, a head held for coalescing), `ByteBuffer`'s copy-on-write clears into fresh
/// memory instead and the pending bytes stay as they are: sharing is never a correctness
/// question, only whether an allocation is saved.
///
/// Per loop rather than per connection: one buffer serves every connection of the loop,
/// so 10,000 idle connections keep nothing extra. Confined to its loop (not `Sendable`).
final class HeadBufferRecycler {
    /// What a fresh buffer starts with: a proxied API head, with a coalesced small body,
    /// usually fits.
    static let freshCapacity = 1024
    /// A buffer grown past this (a very large head or coalesced body) is not kept, so the
    /// loop never holds more than this much for it.
    static let keptCapacity = 8192

    private let allocator: ByteBufferAllocator
    private var spare: ByteBuffer?

    init(allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.allocator = allocator
    }

    /// An empty buffer to write a head into: the spare when no earlier write still
    /// holds its memory, otherwise fresh memory.
    func take() -> ByteBuffer {
        guard var buffer = spare else { return allocator.buffer(capacity: Self.freshCapacity) }
        // Dropped first, so the spare's own reference does not count as a second holder.
        spare = nil
        buffer.clear(minimumCapacity: Self.freshCapacity)
        return buffer
    }

    /// Keeps `buffer` (already handed to a write) as the spare for the next ``take()``.
    func recycle(_ buffer: ByteBuffer) {
        guard buffer.capacity <= Self.keptCapacity else { return }
        spare = buffer
    }
}
