/// The fields of one meter line that reports need, parsed straight from the bytes.
///
/// Hand-written because `meter report` must chew through gigabytes in seconds: no
/// Foundation, no intermediate objects per line. Anything that is not a complete JSON
/// object with the record's fields (a torn last line after a crash, a foreign line) is
/// `nil` and gets skipped, never an error.
public struct MeterLine {
    public var timestampMs: Int64 = 0
    public var org: String = ""
    public var app: String = ""
    public var user: String = ""
    public var path: String = ""
    public var status: Int = 0
    public var requestBytes: Int = 0
    public var responseBytes: Int = 0
    public var durationMs: Double = 0
    public var outcomeOK = false

    public var isError: Bool { status >= 500 || !outcomeOK }

    public static func parse(_ line: UnsafeRawBufferPointer) -> MeterLine? {
        var scanner = Scanner(bytes: line)
        var out = MeterLine()
        var seen = 0
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        if scanner.take(UInt8(ascii: "}")) { return nil }
        repeat {
            guard let key = scanner.string() else { return nil }
            guard scanner.take(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "ts":
                guard let s = scanner.string(), let ms = UTCTimestamp.parse(s) else { return nil }
                out.timestampMs = ms
                seen |= 1
            case "org":
                guard let s = scanner.string() else { return nil }
                out.org = s
                seen |= 2
            case "app":
                guard let s = scanner.string() else { return nil }
                out.app = s
            case "user":
                guard let s = scanner.string() else { return nil }
                out.user = s
            case "path":
                guard let s = scanner.string() else { return nil }
                out.path = s
            case "status":
                guard let n = scanner.number() else { return nil }
                out.status = Int(n)
                seen |= 4
            case "req_bytes":
                guard let n = scanner.number() else { return nil }
                out.requestBytes = Int(n)
            case "resp_bytes":
                guard let n = scanner.number() else { return nil }
                out.responseBytes = Int(n)
            case "duration_ms":
                guard let n = scanner.number() else { return nil }
                out.durationMs = n
            case "outcome":
                guard let s = scanner.string() else { return nil }
                out.outcomeOK = s == "ok"
                seen |= 8
            default:
                guard scanner.skipValue() else { return nil }
            }
        } while scanner.take(UInt8(ascii: ","))
        guard scanner.take(UInt8(ascii: "}")), scanner.atEnd, seen == 15 else { return nil }
        return out
    }

    struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var i = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var atEnd: Bool {
            mutating get {
                skipSpace()
                return i == bytes.count
            }
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D { i += 1 }
        }

        mutating func take(_ c: UInt8) -> Bool {
            skipSpace()
            guard i < bytes.count, bytes[i] == c else { return false }
            i += 1
            return true
        }

        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = i
            var escaped = false
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
                    i += 1
                    return escaped ? Self.unescape(raw) : String(decoding: raw, as: UTF8.self)
                }
                if c == UInt8(ascii: "\\") {
                    escaped = true
                    i += 2
                    continue
                }
                if c < 0x20 { return nil }
                i += 1
            }
            return nil
        }

        mutating func number() -> Double? {
            skipSpace()
            var value: Double = 0
            var negative = false
            var digits = 0
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                value = value * 10 + Double(bytes[i] - 48)
                digits += 1
                i += 1
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                var scale = 0.1
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                    value += Double(bytes[i] - 48) * scale
                    scale /= 10
                    digits += 1
                    i += 1
                }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                var expNegative = false
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") {
                    expNegative = bytes[i] == UInt8(ascii: "-")
                    i += 1
                }
                var exp = 0
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57, exp < 400 {
                    exp = exp * 10 + Int(bytes[i] - 48)
                    i += 1
                }
                for _ in 0..<exp { value = expNegative ? value / 10 : value * 10 }
            }
            guard digits > 0 else { return nil }
            return negative ? -value : value
        }

        /// Skips any JSON value (unknown keys from newer writers).
        mutating func skipValue() -> Bool {
            skipSpace()
            guard i < bytes.count else { return false }
            switch bytes[i] {
            case UInt8(ascii: "\""): return string() != nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < bytes.count {
                    switch bytes[i] {
                    case UInt8(ascii: "\""):
                        guard string() != nil else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                while i < bytes.count, bytes[i] >= UInt8(ascii: "a"), bytes[i] <= UInt8(ascii: "z") { i += 1 }
                return true
            default:
                return number() != nil
            }
        }

        static func unescape(_ raw: UnsafeRawBufferPointer) -> String? {
            var out: [UInt8] = []
            out.reserveCapacity(raw.count)
            var j = 0
            while j < raw.count {
                let c = raw[j]
                guard c == UInt8(ascii: "\\") else { out.append(c); j += 1; continue }
                guard j + 1 < raw.count else { return nil }
                let e = raw[j + 1]
                j += 2
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard j + 4 <= raw.count, let v = UInt32(String(decoding: UnsafeRawBufferPointer(rebasing: raw[j..<j + 4]), as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(v) else { return nil }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    j += 4
                default: out.append(e)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
