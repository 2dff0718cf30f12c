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
/// A value type, so the decoder's callbacks change it in one access each (a class's stored
/// properties are checked for exclusive access one by one at run time).
struct DecodedFields {
    /// The largest head (URL, names and values) kept for the next one to reuse.
    static let reusableHeadBytes = 4096
    /// The most fields' room an emptied head's storage may have to be built over again.
    static let keptCapacity = 64

    /// The head's fields so far.
    private(set) var fields: [(String, String)] = []
    /// The head's URL (a request's), once it has ended.
    private(set) var url: String? = nil
    /// The name of the field (or trailer) whose value comes next.
    private var pendingName: String? = nil
    /// The last head's fields and URL, shared with the head that carries them.
    private var previousFields: [(String, String)] = []
    private var previousURL: String? = nil
    /// A response's fields as ``HeaderHygiene/removeHopByHop(_:keepingKeepAlive:)`` reads
    /// them, noted as they arrive (`nil` on a request decoder, whose heads do not need it).
    private var scan: HeaderHygiene.HopByHopScan?

    init(scanningHopByHop: Bool = false) {
        fields.reserveCapacity(16)
        scan = scanningHopByHop ? HeaderHygiene.HopByHopScan() : nil
    }

    /// Whether a name waits for its value.
    var hasPendingName: Bool { pendingName != nil }

    mutating func setURL(_ bytes: UnsafeRawBufferPointer) {
        if let previous = previousURL, Self.matches(previous, bytes) {
            url = previous
        } else {
            url = String(decoding: bytes, as: Unicode.UTF8.self)
        }
    }

    // The last head's string is compared where it lies (a borrow) and copied once, when it
    // matches: handing it through `reuse`-and-return took two retains and a release per
    // field (~21 reference-count operations of every `/_api` exchange, each an atomic).

    /// A header's name (compared with the last head's at its position), or a trailer's.
    mutating func setName(_ bytes: UnsafeRawBufferPointer, inHead: Bool) {
        let position = fields.count
        if inHead, position < previousFields.count, Self.matches(previousFields[position].0, bytes) {
            pendingName = previousFields[position].0
        } else {
            pendingName = String(decoding: bytes, as: Unicode.UTF8.self)
        }
    }

    /// A header's value: the field joins the head.
    mutating func appendValue(_ bytes: UnsafeRawBufferPointer) {
        guard let name = pendingName.take() else { preconditionFailure("a field value without its name") }
        let position = fields.count
        let value: String
        if position < previousFields.count, Self.matches(previousFields[position].1, bytes) {
            value = previousFields[position].1
        } else {
            value = String(decoding: bytes, as: Unicode.UTF8.self)
        }
        if scan != nil { _ = scan?.note(name, value) }
        fields.append((consume name, consume value))
    }

    /// A trailer's value, with its name (trailers are rare: not compared with anything).
    mutating func trailer(_ bytes: UnsafeRawBufferPointer) -> (String, String) {
        guard let name = pendingName.take() else { preconditionFailure("a trailer value without its name") }
        return (name, String(decoding: bytes, as: Unicode.UTF8.self))
    }

    /// The finished head's fields and URL; a new head starts. The fields' storage goes to
    /// the head (and, when `headBytes` is small enough, stays shared here for the next head).
    ///
    /// The next head is built in the storage of the head before this one, emptied: by now
    /// that head is usually gone (its exchange over), so the storage is held here alone and
    /// is emptied in place — no allocation (one per head before: two of the nine left per
    /// `/_api` exchange). While that head lives (a pipelined request, a response still being
    /// written), emptying copies first, as for any shared array: the head keeps its fields.
    mutating func takeHead(headBytes: Int) -> (fields: [(String, String)], url: String?, scan: HeaderHygiene.HopByHopScan?) {
        let head = (fields, url, scan)
        if scan != nil { scan = HeaderHygiene.HopByHopScan() }
        let reusable = headBytes <= Self.reusableHeadBytes
        var spare = reusable ? fields : []
        swap(&spare, &previousFields)
        previousURL = reusable ? url : nil
        // Room for a head of many fields is not kept for every head after it.
        if spare.capacity > Self.keptCapacity { spare = [] }
        // Emptied by popping, which releases each field's strings in code specialised for
        // them; `removeAll(keepingCapacity:)` destroys the pairs through the runtime's
        // generic tuple code (~360 instructions a head of seven fields, twice per exchange).
        // A storage still shared (its head alive) is copied by the first pop, as
        // `removeAll` would have allocated afresh: rare (see above).
        while spare.popLast() != nil {}
        if spare.capacity < 16 { spare.reserveCapacity(16) }
        fields = spare
        url = nil
        return head
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
