import GatehouseCore

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
        // Almost every line has no byte to escape: its exact text length is known, so the
        // fields are written into one stack buffer through a pointer and appended in one
        // copy. Appending them to the array one by one (a capacity and uniqueness check
        // each, 25 of them) was ~3,600 instructions of every metered request.
        guard let textBytes = plainTextBytes() else {
            appendEscapingFieldsAfterTimestamp(to: &out)
            return
        }
        let capacity = textBytes + JSONLineWriter.fixedFieldBytes
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var line = JSONLineWriter(buffer)
            line.literal(#"","org":""#)
            line.plain(org)
            line.literal(#","app":""#)
            line.plain(app)
            line.literal(#","user":""#)
            line.plain(user)
            line.literal(#","method":""#)
            line.plain(method)
            line.literal(#","path":""#)
            line.plain(path)
            line.literal(#","status":"#)
            line.int(status)
            line.literal(#","req_bytes":"#)
            line.int(requestBytes)
            line.literal(#","resp_bytes":"#)
            line.int(responseBytes)
            line.literal(#","duration_ms":"#)
            line.tenths(durationMs)
            line.literal(#","request_id":""#)
            requestID.withUTF8Bytes { line.plain(bytes: $0) }
            line.literal(#","outcome":""#)
            line.literal(outcome.literal)
            line.literal("\"}\n")
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<line.count]))
        }
    }

    /// The UTF-8 length of the six text fields, or `nil` if one needs an escape.
    private func plainTextBytes() -> Int? {
        guard let org = Self.plainBytes(org), let app = Self.plainBytes(app), let user = Self.plainBytes(user),
            let method = Self.plainBytes(method), let path = Self.plainBytes(path), let id = Self.plainBytes(requestID)
        else { return nil }
        return org + app + user + method + path + id
    }

    @inline(__always)
    private static func plainBytes(_ text: String) -> Int? {
        text.withUTF8Bytes { JSONText.needsEscape($0) ? nil : $0.count }
    }

    /// A made id is hex digits: its length, unwritten.
    @inline(__always)
    private static func plainBytes(_ id: RequestID) -> Int? {
        if id.isGenerated { return id.utf8Count }
        return id.withUTF8Bytes { JSONText.needsEscape($0) ? nil : $0.count }
    }

    /// The line byte by byte with escapes (a field with `"`, `\` or a control character).
    private func appendEscapingFieldsAfterTimestamp(to out: inout [UInt8]) {
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
        JSONText.appendString(requestID.description, to: &out)
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

/// Writes a meter line's fields after `ts` into a buffer sized for them: the fixed text
/// plus the UTF-8 of fields known to need no escape. Every write checks the room left, so a
/// wrong size traps instead of writing past the buffer.
struct JSONLineWriter {
    /// Everything but the six text fields, at most: the literals (~120 bytes), three
    /// `Int`s of up to 20 characters and the duration (up to 18).
    static let fixedFieldBytes = 256

    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    @inline(__always)
    private mutating func copy(_ bytes: UnsafeBufferPointer<UInt8>) {
        precondition(bytes.count <= buffer.count &- count, "meter line longer than its buffer")
        guard let source = bytes.baseAddress, let target = buffer.baseAddress else { return }
        (target + count).update(from: source, count: bytes.count)
        count &+= bytes.count
    }

    @inline(__always)
    private mutating func byte(_ byte: UInt8) {
        precondition(count < buffer.count, "meter line longer than its buffer")
        buffer[count] = byte
        count &+= 1
    }

    mutating func literal(_ text: StaticString) {
        text.withUTF8Buffer { copy($0) }
    }

    /// A text field known to need no escape, with its closing quote (the literal before it
    /// opens it).
    mutating func plain(_ text: String) {
        text.withUTF8Bytes { plain(bytes: $0) }
    }

    /// As ``plain(_:)``, from bytes.
    mutating func plain(bytes: UnsafeBufferPointer<UInt8>) {
        copy(bytes)
        byte(UInt8(ascii: "\""))
    }

    mutating func int(_ value: Int) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var scale: UInt = 1
        while magnitude / scale >= 10 { scale *= 10 }
        while scale > 0 {
            byte(UInt8(ascii: "0") &+ UInt8(magnitude / scale))
            magnitude %= scale
            scale /= 10
        }
    }

    /// As ``JSONText/appendTenths(_:to:)``.
    mutating func tenths(_ value: Double) {
        let tenths = JSONText.tenths(value)
        int(tenths / 10)
        byte(UInt8(ascii: "."))
        byte(UInt8(ascii: "0") &+ UInt8(tenths % 10))
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
        let tenths = tenths(v)
        appendInt(tenths / 10, to: &out)
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(tenths % 10))
    }

    static func tenths(_ v: Double) -> Int {
        v.isFinite && v > 0 && v < 1e15 ? Int((v * 10).rounded()) : 0
    }
}
