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
}
