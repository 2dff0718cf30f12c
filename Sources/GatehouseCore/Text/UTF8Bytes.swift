#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a string's UTF-8 in place, the way every per-request scan here does it.
extension String {
    /// Calls `body` with the string's UTF-8 bytes where they are: a native string has them
    /// contiguous. `withUTF8` is mutating, so calling it on a copy took a retain and a
    /// release of the string each time; that stays only for a string without contiguous
    /// bytes (bridged ones).
    @inlinable
    public func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if let result = try utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = self
        return try copy.withUTF8(body)
    }
}

extension Substring {
    /// As ``Swift/String/withUTF8Bytes(_:)``, for a slice read where it stands.
    @inlinable
    public func withUTF8Bytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        if let result = try utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = self
        return try copy.withUTF8(body)
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// `range` without leading and trailing spaces and tabs (RFC 9110's optional whitespace).
    @inlinable
    public func trimmingOWS(_ range: Range<Int>) -> Range<Int> {
        var start = range.lowerBound
        var end = range.upperBound
        while start < end, self[start] == 0x20 || self[start] == 0x09 { start += 1 }
        while end > start, self[end - 1] == 0x20 || self[end - 1] == 0x09 { end -= 1 }
        return start..<end
    }

    /// Whether the bytes in `range` are `lowercase` (lowercase ASCII) up to ASCII case.
    @inlinable
    public func equalsIgnoringASCIICase(_ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { lowercase in
            for i in 0..<lowercase.count {
                let c = self[range.lowerBound + i]
                if (c >= 65 && c <= 90 ? c | 0x20 : c) != lowercase[i] { return false }
            }
            return true
        }
    }

    /// Whether the bytes in `range` begin with `literal`, byte for byte.
    @inlinable
    public func hasPrefix(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count >= literal.utf8CodeUnitCount else { return false }
        return literal.withUTF8Buffer { literal in
            for i in 0..<literal.count where self[range.lowerBound + i] != literal[i] { return false }
            return true
        }
    }

    /// Whether the bytes in `range` are `literal`, byte for byte.
    @inlinable
    public func equals(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        range.count == literal.utf8CodeUnitCount && hasPrefix(range, literal)
    }

    /// The offset of the first `byte` at or after `start`, found with `memchr` (a word or a
    /// vector at a time): the scans of ~700-byte tokens and cookies, byte by byte, were
    /// thousands of instructions each.
    @inlinable
    public func offset(of byte: UInt8, from start: Int = 0) -> Int? {
        guard let base = baseAddress, start < count else { return nil }
        return memchr(base + start, Int32(byte), count - start).map {
            UnsafeRawPointer(base).distance(to: UnsafeRawPointer($0))
        }
    }

    /// Calls `body` with the range of each piece between `separator` bytes (none for an
    /// empty buffer, none after a trailing separator): a header value's list elements.
    @inlinable
    public func forEachPiece(separatedBy separator: UInt8, _ body: (Range<Int>) -> Void) {
        var start = 0
        while start < count {
            let end = offset(of: separator, from: start) ?? count
            body(start..<end)
            start = end + 1
        }
    }

    /// The ranges `forEach` hands its argument, joined by `separator` and a space into one
    /// string: `forEach` runs twice, to count, then to copy (no array of pieces, no string
    /// grown piece by piece). How a header value rebuilt from some of its elements is made.
    @inlinable
    public func joined(separator: UInt8, _ forEach: ((Range<Int>) -> Void) -> Void) -> String {
        var length = 0
        var pieces = 0
        forEach { range in
            length += range.count
            pieces += 1
        }
        if pieces > 1 { length += 2 * (pieces - 1) }
        return String(unsafeUninitializedCapacity: length) { out in
            var at = 0
            var first = true
            forEach { range in
                if !first {
                    out[at] = separator
                    out[at + 1] = 0x20
                    at += 2
                }
                first = false
                _ = UnsafeMutableBufferPointer(rebasing: out[at..<at + range.count]).initialize(from: self[range])
                at += range.count
            }
            return at
        }
    }
}
