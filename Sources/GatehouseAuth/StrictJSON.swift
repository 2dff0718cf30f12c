/// A strict RFC 8259 JSON parser and compact serializer for token headers, claims and JWKS.
///
/// Strict because lenient parsers disagree: a duplicate `alg` or `sub` read differently by two
/// parsers is a known JWT bypass, so duplicates, trailing garbage, invalid UTF-8, lone surrogates
/// and nesting deeper than ``maximumDepth`` are all refused. Pure and synchronous; safe on any
/// thread, including an event loop.
public enum StrictJSON {
    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 32

    /// Parses one JSON document (white space allowed around it, nothing else).
    public static func parse(_ bytes: some Collection<UInt8>) throws(StrictJSONError) -> JSONValue {
        let buffer = Array(bytes)
        try UTF8Validation.validate(buffer)
        var parser = Parser(bytes: buffer)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.pos != buffer.count { throw .trailingData(at: parser.pos) }
        return value
    }

    /// Serializes compactly: no white space, object members sorted by name, whole numbers of
    /// magnitude up to 2^53 printed without a fraction, non-finite numbers as `null`.
    public static func serialize(_ v: JSONValue) -> String {
        var out = ""
        write(v, into: &out)
        return out
    }

    private static func write(_ v: JSONValue, into out: inout String) {
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): writeNumber(n, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += "," }
                write(e, into: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, k) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                writeString(k, into: &out)
                out += ":"
                if let member = o[k] { write(member, into: &out) }
            }
            out += "}"
        }
    }

    private static func writeNumber(_ n: Double, into out: inout String) {
        guard n.isFinite else {
            out += "null"
            return
        }
        if n == n.rounded(), abs(n) <= 9_007_199_254_740_992 {
            out += String(Int64(n))
        } else {
            out += "\(n)"
        }
    }

    private static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// Recursive-descent state over an already UTF-8-validated buffer.
private struct Parser {
    let bytes: [UInt8]
    var pos = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(StrictJSONError) -> JSONValue {
        guard pos < bytes.count else { throw .unexpectedEnd(at: pos) }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw .unexpectedByte(at: pos)
        }
    }

    mutating func literal(_ word: StaticString) throws(StrictJSONError) {
        let n = word.utf8CodeUnitCount
        guard pos + n <= bytes.count else { throw .unexpectedEnd(at: pos) }
        let ok = word.withUTF8Buffer { w in
            for i in 0..<n where bytes[pos + i] != w[i] { return false }
            return true
        }
        guard ok else { throw .unexpectedByte(at: pos) }
        pos += n
    }

    mutating func parseObject(depth: Int) throws(StrictJSONError) -> JSONValue {
        if depth > StrictJSON.maximumDepth { throw .tooDeep(at: pos) }
        pos += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
            pos += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard pos < bytes.count else { throw .unexpectedEnd(at: pos) }
            guard bytes[pos] == UInt8(ascii: "\"") else { throw .unexpectedByte(at: pos) }
            let keyOffset = pos
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count else { throw .unexpectedEnd(at: pos) }
            guard bytes[pos] == UInt8(ascii: ":") else { throw .unexpectedByte(at: pos) }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            if members.updateValue(value, forKey: key) != nil { throw .duplicateMember(at: keyOffset) }
            skipWhitespace()
            guard pos < bytes.count else { throw .unexpectedEnd(at: pos) }
            switch bytes[pos] {
            case UInt8(ascii: ","): pos += 1
            case UInt8(ascii: "}"):
                pos += 1
                return .object(members)
            default: throw .unexpectedByte(at: pos)
            }
        }
    }

    mutating func parseArray(depth: Int) throws(StrictJSONError) -> JSONValue {
        if depth > StrictJSON.maximumDepth { throw .tooDeep(at: pos) }
        pos += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
            pos += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < bytes.count else { throw .unexpectedEnd(at: pos) }
            switch bytes[pos] {
            case UInt8(ascii: ","): pos += 1
            case UInt8(ascii: "]"):
                pos += 1
                return .array(elements)
            default: throw .unexpectedByte(at: pos)
            }
        }
    }

    mutating func parseNumber() throws(StrictJSONError) -> Double {
        let start = pos
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count else { throw .invalidNumber(at: start) }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
        } else if isDigit(bytes[pos]) {
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        } else {
            throw .invalidNumber(at: start)
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw .invalidNumber(at: start) }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, isDigit(bytes[pos]) else { throw .invalidNumber(at: start) }
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw .invalidNumber(at: start) }
        return value
    }

    @inline(__always)
    func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    mutating func parseString() throws(StrictJSONError) -> String {
        let start = pos
        pos += 1
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw .unexpectedEnd(at: pos) }
            let c = bytes[pos]
            switch c {
            case UInt8(ascii: "\""):
                pos += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                pos += 1
                guard pos < bytes.count else { throw .unexpectedEnd(at: pos) }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
                        else { throw .invalidString(at: start) }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw .invalidString(at: start) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw .invalidString(at: start)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw .invalidString(at: start) }
                    out.append(contentsOf: UTF8.encode(u) ?? [])
                default:
                    throw .invalidString(at: pos - 1)
                }
            default:
                if c < 0x20 { throw .invalidString(at: pos) }
                out.append(c)
                pos += 1
            }
        }
    }

    mutating func hex4() throws(StrictJSONError) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw .unexpectedEnd(at: pos) }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw .invalidString(at: pos)
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }
}

extension UTF8 {
    /// The UTF-8 bytes of one scalar.
    fileprivate static func encode(_ u: Unicode.Scalar) -> [UInt8]? {
        var bytes: [UInt8] = []
        UTF8.encode(u) { bytes.append($0) }
        return bytes
    }
}

/// Well-formed UTF-8 (RFC 3629): no overlong forms, surrogates or values above U+10FFFF.
enum UTF8Validation {
    static func validate(_ b: [UInt8]) throws(StrictJSONError) {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 {
                i += 1
                continue
            }
            let need: Int
            var lo: UInt8 = 0x80
            var hi: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; hi = 0x9F
            case 0xF0: need = 3; lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; hi = 0x8F
            default: throw .invalidUTF8(at: i)
            }
            guard i + need < n else { throw .invalidUTF8(at: i) }
            let second = b[i + 1]
            guard second >= lo, second <= hi else { throw .invalidUTF8(at: i) }
            var k = 2
            while k <= need {
                guard b[i + k] & 0xC0 == 0x80 else { throw .invalidUTF8(at: i) }
                k += 1
            }
            i += need + 1
        }
    }
}
