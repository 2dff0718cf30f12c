#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The `String`s of the head being decoded — its URL, field names and values — made from
/// the bytes llhttp hands over, reusing the last head's where the bytes are the same.
///
/// Why: a client sends the same `Host`, `Authorization`, `User-Agent` and `Accept` on every
/// request of its connection, an upstream the same `Server` and `Content-Type` on every
/// response (and `Date` within a second). Making each anew — validating the UTF-8,
/// allocating storage for a value over 15 bytes, copying, then freeing the last one — cost
/// ~1,800 instructions and 10 of the 19 allocations of a proxied `/_api` exchange more than
/// comparing the bytes with the string already made (a `memcmp`) does (`Benchmarks/README.md`,
/// fourteenth round). Only the same position is compared:
/// a client or server sends its fields in the same order each time, and anything else costs
/// what it did before. The last head is kept only when it was at most
/// ``reusableHeadBytes``, which bounds what an idle connection holds.
///
/// Each head is built over the last one, in its array: a field whose name and value are the
/// bytes already at its position is left where it is — nothing copied, retained or
/// released — and only what differs is written (twentieth round: the last head's strings
/// were copied into a new head, then the head before it emptied, four atomic reference
/// counts per repeated field). By the time the next head arrives the last one is usually
/// gone (its exchange over), so the array is held here alone and is written in place; while
/// that head lives (a pipelined request, a response still being written), the first write
/// copies the array first, as for any shared array, and the head keeps its fields. A head
/// identical to the last one shares its array outright.
///
/// An object, the decoder's `let`, whose stored properties are changed only by loads and
/// stores that call nothing: the array and the strings compared with the bytes are moved
/// out into locals (`take()`) and back around the comparisons (`memcmp`) and the strings
/// made (UTF-8 validation). As the decoder's value, each callback's one access to it
/// spanned those calls, so Swift checked every access to it at run time
/// (`swift_beginAccess`, ~75 instructions, ~17 per `/_api` exchange); this way the
/// whole-module optimizer proves each access exclusive (`Benchmarks/README.md`,
/// twenty-first round). Confined to the decoder's loop (not `Sendable`).
final class DecodedFields {
    /// The largest head (URL, names and values) kept for the next one to reuse.
    static let reusableHeadBytes = 4096
    /// The most fields' room an array may have to be built over again.
    static let keptCapacity = 64

    /// The head's fields so far (the first ``count``), then the last head's beyond them,
    /// each compared with the field decoded at its position. Never `nil` but inside
    /// ``withStorage(_:)``.
    private var storage: [(String, String)]? = []
    /// How many of ``storage``'s fields are the current head's.
    private var count = 0
    /// The head's URL (a request's), once it has ended.
    private(set) var url: String? = nil
    /// The name of the field (or trailer) whose value comes next, when it is not the name
    /// already at its position (``nameInPlace``).
    private var pendingName: String? = nil
    /// The next value's name is the one at its position in ``storage``, the same bytes.
    private var nameInPlace = false
    /// The last head's URL, shared with the head that carries it.
    private var previousURL: String? = nil
    /// A response's fields as ``HeaderHygiene/removeHopByHop(_:keepingKeepAlive:)`` reads
    /// them, noted as they arrive (`nil` on a request decoder, whose heads do not need it).
    private var scan: HeaderHygiene.HopByHopScan?
    /// What the scan makes of the name whose value comes next, told from its bytes.
    private var pendingKind = HeaderHygiene.HopByHopScan.FieldKind.other

    init(scanningHopByHop: Bool = false) {
        var storage: [(String, String)] = []
        storage.reserveCapacity(16)
        self.storage = storage
        scan = scanningHopByHop ? HeaderHygiene.HopByHopScan() : nil
    }

    /// Runs `body` on the fields moved out (`take()`) and back; nothing `body` runs reaches
    /// this object.
    @inline(__always)
    private func withStorage<Result>(_ body: (inout [(String, String)]) -> Result) -> Result {
        guard var storage = self.storage.take() else { preconditionFailure("decoded fields re-entered") }
        let result = body(&storage)
        self.storage = consume storage
        return result
    }

    /// Whether a name waits for its value.
    var hasPendingName: Bool { nameInPlace || pendingName != nil }

    func setURL(_ bytes: UnsafeRawBufferPointer) {
        // Moved out to be compared, as the fields are.
        let previous = previousURL.take()
        if let previous, Self.matches(previous, bytes) {
            url = previous
        } else {
            url = String(decoding: bytes, as: Unicode.UTF8.self)
        }
        previousURL = consume previous
    }

    /// A header's name (compared with the last head's at its position), or a trailer's.
    func setName(_ bytes: UnsafeRawBufferPointer, inHead: Bool) {
        if inHead, scan != nil { pendingKind = .init(name: bytes.assumingMemoryBound(to: UInt8.self)) }
        let position = count
        let inPlace = inHead && withStorage { storage in
            position < storage.count && Self.matches(storage[position].0, bytes)
        }
        if inPlace {
            nameInPlace = true
        } else {
            pendingName = String(decoding: bytes, as: Unicode.UTF8.self)
        }
    }

    /// A header's value: the field joins the head, written over the last head's at its
    /// position unless it is the same.
    func appendValue(_ bytes: UnsafeRawBufferPointer) {
        let position = count
        let inPlace = nameInPlace
        withStorage { storage in
            // The name taken here, where it moves into the array (taken outside, the
            // closure's capture of it was copied in: a retain and a release).
            if position < storage.count {
                if let name = self.pendingName.take() {
                    storage[position].0 = name
                } else {
                    precondition(inPlace, "a field value without its name")
                }
                if !Self.matches(storage[position].1, bytes) {
                    storage[position].1 = String(decoding: bytes, as: Unicode.UTF8.self)
                }
            } else {
                guard let name = self.pendingName.take() else { preconditionFailure("a field value without its name") }
                storage.append((name, String(decoding: bytes, as: Unicode.UTF8.self)))
            }
        }
        // Noted on a copy of the scan (a few integers), from the name's kind and the
        // value's bytes (not the strings just stored: read across the calls, they were
        // retained and released).
        if var noted = scan {
            _ = noted.note(pendingKind, value: bytes.assumingMemoryBound(to: UInt8.self))
            scan = noted
        }
        nameInPlace = false
        count = position + 1
    }

    /// A trailer's value, with its name (trailers are rare: not compared with anything).
    func trailer(_ bytes: UnsafeRawBufferPointer) -> (String, String) {
        guard let name = pendingName.take() else { preconditionFailure("a trailer value without its name") }
        return (name, String(decoding: bytes, as: Unicode.UTF8.self))
    }

    /// The finished head's fields and URL; a new head starts, to be built over this one
    /// (shared with the head until written, see above) when `headBytes` is small enough.
    func takeHead(headBytes: Int) -> (fields: [(String, String)], url: String?, scan: HeaderHygiene.HopByHopScan?) {
        let headCount = count
        let headURL = url.take()
        let headScan = scan
        if scan != nil { scan = HeaderHygiene.HopByHopScan() }
        let (fields, kept) = withStorage { storage in
            // The last head's fields past this head's end go. Popped: `removeLast(_:)`
            // destroys the pairs through the runtime's generic tuple code (~50
            // instructions a field).
            while storage.count > headCount { storage.removeLast() }
            let fields = storage
            // Room for a large head, or for many fields, is not kept for every head after it.
            let kept = headBytes <= Self.reusableHeadBytes && storage.capacity <= Self.keptCapacity
            if !kept {
                storage = []
                storage.reserveCapacity(16)
            }
            return (fields, kept)
        }
        previousURL = kept ? headURL : nil
        count = 0
        return (fields, headURL, headScan)
    }

    /// Whether `candidate`'s UTF-8 is `bytes`, byte for byte: decoding `bytes` would make an
    /// equal string (a `String`'s UTF-8 is valid, so equal bytes are valid as they stand).
    @inline(__always)
    static func matches(_ candidate: borrowing String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard candidate.utf8.count == bytes.count else { return false }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        let same = candidate.utf8.withContiguousStorageIfAvailable { stored -> Bool in
            guard let storedBase = stored.baseAddress else { return false }
            return memcmp(storedBase, base, bytes.count) == 0
        }
        return same == true
    }
}
