extension MeterRecord {
    /// Appends the record as one JSON Lines line (fields in SPEC order, `\n` last).
    /// Hand-written so a batch serialises without Foundation or intermediate strings.
    public func appendJSONLine(to out: inout [UInt8]) {
        JSONText.appendLiteral(#"{"ts":""#, to: &out)
        UTCTimestamp.appendRFC3339(milliseconds: timestampMs, to: &out)
        appendFieldsAfterTimestamp(to: &out)
    }

    /// The same line, its `ts` written through `prefix`, which an encoder of many records
    /// keeps (``MeterBatch``).
    public func appendJSONLine(to out: inout [UInt8], reusing prefix: inout UTCTimestamp.SecondPrefix) {
        JSONText.appendLiteral(#"{"ts":""#, to: &out)
        prefix.appendRFC3339(milliseconds: timestampMs, to: &out)
        appendFieldsAfterTimestamp(to: &out)
    }

    private func appendFieldsAfterTimestamp(to out: inout [UInt8]) {
        JSONText.appendLiteral(#"","org":"#, to: &out)
        JSONText.appendString(org, to: &out)
        JSONText.appendLiteral(#","app":"#, to: &out)
        JSONText.appendString(app, to: &out)
        JSONText.appendLiteral(#","user":"#, to: &out)
        JSONText.appendString(user, to: &out)
        JSONText.appendLiteral(#","method":"#, to: &out)
        JSONText.appendString(method, to: &out)
        JSONText.appendLiteral(#","path":"#, to: &out)
        JSONText.appendString(path, to: &out)
        JSONText.appendLiteral(#","status":"#, to: &out)
        JSONText.appendInt(status, to: &out)
        JSONText.appendLiteral(#","req_bytes":"#, to: &out)
        JSONText.appendInt(requestBytes, to: &out)
        JSONText.appendLiteral(#","resp_bytes":"#, to: &out)
        JSONText.appendInt(responseBytes, to: &out)
        JSONText.appendLiteral(#","duration_ms":"#, to: &out)
        JSONText.appendTenths(durationMs, to: &out)
        JSONText.appendLiteral(#","request_id":"#, to: &out)
        JSONText.appendString(requestID, to: &out)
        JSONText.appendLiteral(#","outcome":""#, to: &out)
        JSONText.appendLiteral(outcome.literal, to: &out)
        JSONText.appendLiteral("\"}\n", to: &out)
    }
}

extension MeterRecord.Outcome {
    /// The raw value as a literal: appended without going through `String`.
    var literal: StaticString {
        switch self {
        case .ok: "ok"
        case .upstreamError: "upstream_error"
        case .clientAbort: "client_abort"
        }
    }
}

/// Minimal JSON text writing for meter records.
enum JSONText {
    /// A literal's bytes in one copy: `append(contentsOf: "…".utf8)` walked a `String`'s
    /// UTF-8 view through the generic sequence path (12 of them were 3,000 instructions
    /// of every metered request).
    @inline(__always)
    static func appendLiteral(_ literal: StaticString, to out: inout [UInt8]) {
        literal.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Almost every value (ids, paths, methods) needs no escape: copy it in one go, from
        // the string's contiguous bytes when it has them (native strings do).
        let copied: Bool
        if let contiguous = s.utf8.withContiguousStorageIfAvailable({ bytes -> Bool in
            guard !needsEscape(bytes) else { return false }
            out.append(contentsOf: bytes)
            return true
        }) {
            copied = contiguous
        } else if !s.utf8.contains(where: needsEscape) {
            out.append(contentsOf: s.utf8)
            copied = true
        } else {
            copied = false
        }
        if copied {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
            case 0x0A: out.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20, 0x7f:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex(byte >> 4))
                out.append(hex(byte & 0xf))
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    @inline(__always)
    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7f || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Whether any byte needs an escape, eight bytes per step: the byte-wise test was ~12
    /// instructions per byte and a meter line has ~75 bytes of text. Each word test is exact
    /// as a yes/no (a byte below 0x20, or equal to `"`, `\` or DEL, somewhere in the word);
    /// bytes of 0x80 and above (UTF-8) never match.
    static func needsEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let raw = UnsafeRawPointer(base)
        let count = bytes.count
        var offset = 0
        while offset &+ 8 <= count {
            let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            if wordNeedsEscape(word) { return true }
            offset &+= 8
        }
        while offset < count {
            if needsEscape(base[offset]) { return true }
            offset &+= 1
        }
        return false
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// A byte of `word` below 0x20, or equal to 0x22, 0x5C or 0x7F.
    @inline(__always)
    static func wordNeedsEscape(_ word: UInt64) -> Bool {
        // `(x - n·ones) & ~x & highs` is non-zero exactly when some byte of x is below n
        // (n ≤ 0x80); equality with c is "some byte of x ^ c·ones below 1".
        let below0x20 = (word &- ones &* 0x20) & ~word
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let delete = word ^ (ones &* 0x7F)
        let zeroes = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((delete &- ones) & ~delete)
        return (below0x20 | zeroes) & highs != 0
    }

    private static func hex(_ v: UInt8) -> UInt8 { v < 10 ? 48 + v : 87 + v }

    /// Decimal digits written in place (`String(v)` formats into a temporary first).
    static func appendInt(_ v: Int, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = v.magnitude
        var digits = 1
        var scale: UInt = 1
        while magnitude / scale >= 10 {
            scale *= 10
            digits += 1
        }
        while digits > 0 {
            out.append(UInt8(ascii: "0") + UInt8(magnitude / scale))
            magnitude %= scale
            scale /= 10
            digits -= 1
        }
    }

    /// A non-negative number with one decimal (`12.3`), the precision reports use; one past
    /// `Int`'s range (no clock gives it) as 0.0 rather than a trap.
    static func appendTenths(_ v: Double, to out: inout [UInt8]) {
        let tenths = v.isFinite && v > 0 && v < 1e15 ? Int((v * 10).rounded()) : 0
        appendInt(tenths / 10, to: &out)
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(tenths % 10))
    }
}
