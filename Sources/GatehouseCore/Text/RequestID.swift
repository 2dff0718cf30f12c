/// A request's correlation id (`X-Request-Id`, the access log's and the meter record's
/// `request_id`): one Gatehouse made — 128 bits, written as 32 lowercase hex digits — or
/// the one a trusted peer sent.
///
/// Gatehouse's own ids are kept as their two numbers and written out as hex only where
/// they are written (the upstream head, the meter line, a log line). As a `String` each
/// id was a heap allocation, and every copy of it — the inbound request, the access entry,
/// the meter draft and record — an atomic retain and release (`Benchmarks/README.md`,
/// twenty-eighth round).
public struct RequestID: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    private enum Storage: Sendable, Hashable {
        case generated(high: UInt64, low: UInt64)
        case given(String)
    }

    private let storage: Storage

    /// An id Gatehouse made.
    public init(high: UInt64, low: UInt64) {
        storage = .generated(high: high, low: low)
    }

    /// An id as received (a trusted peer's) or read back (a meter line's).
    public init(_ text: String) {
        storage = .given(text)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// The number of hex digits of a made id.
    public static let generatedLength = 32

    /// The id's bytes' count, without writing them.
    public var utf8Count: Int {
        switch storage {
        case .generated: Self.generatedLength
        case .given(let text): text.utf8.count
        }
    }

    /// A made id is hex digits only: nothing in it needs escaping in JSON or a header.
    public var isGenerated: Bool {
        if case .generated = storage { return true }
        return false
    }

    /// Calls `body` with the id's UTF-8 bytes; a made id's digits are written on the stack.
    @inlinable
    public func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if let text = givenText { return try text.withUTF8Bytes(body) }
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.generatedLength) { buffer in
            writeGeneratedHex(into: buffer)
            return try body(UnsafeBufferPointer(buffer))
        }
    }

    @usableFromInline
    var givenText: String? {
        if case .given(let text) = storage { return text }
        return nil
    }

    /// Writes a made id's 32 digits (`high` first) into `buffer`, which holds at least 32.
    @usableFromInline
    func writeGeneratedHex(into buffer: UnsafeMutableBufferPointer<UInt8>) {
        guard case .generated(let high, let low) = storage else { return }
        precondition(buffer.count >= Self.generatedLength, "request id buffer too small")
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { digits in
            for i in 0..<16 {
                buffer[i] = digits[Int(truncatingIfNeeded: (high >> UInt64(60 - 4 * i)) & 0xF)]
                buffer[16 + i] = digits[Int(truncatingIfNeeded: (low >> UInt64(60 - 4 * i)) & 0xF)]
            }
        }
    }

    /// The id as text (a log line's metadata, a test's comparison).
    public var description: String {
        if let text = givenText { return text }
        return String(unsafeUninitializedCapacity: Self.generatedLength) { buffer in
            writeGeneratedHex(into: buffer)
            return Self.generatedLength
        }
    }

    /// Equal when the texts are: a made id equals the same digits received.
    public static func == (a: RequestID, b: RequestID) -> Bool {
        switch (a.storage, b.storage) {
        case (.generated(let h1, let l1), .generated(let h2, let l2)): return h1 == h2 && l1 == l2
        case (.given(let t1), .given(let t2)): return t1 == t2
        default: return a.description == b.description
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(description)
    }
}
