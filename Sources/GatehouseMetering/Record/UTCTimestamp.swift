/// UTC calendar arithmetic for meter records, without Foundation or time zones: the
/// record's `ts`, the file's day, and the bounds `--since`/`--until` parse to.
/// Days-from-civil after Howard Hinnant's public-domain algorithms.
public enum UTCTimestamp {
    public struct Civil: Equatable, Sendable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int
    }

    public static func civil(milliseconds ms: Int64) -> Civil {
        let totalSeconds = floorDiv(ms, 1000)
        let millisecond = Int(ms - totalSeconds * 1000)
        let days = floorDiv(totalSeconds, 86_400)
        let secondOfDay = Int(totalSeconds - days * 86_400)
        let (y, m, d) = civilFromDays(days)
        return Civil(year: y, month: m, day: d, hour: secondOfDay / 3600, minute: secondOfDay / 60 % 60,
                     second: secondOfDay % 60, millisecond: millisecond)
    }

    /// Milliseconds since 1970 for a UTC civil time.
    public static func milliseconds(_ c: Civil) -> Int64 {
        let days = daysFromCivil(c.year, c.month, c.day)
        return ((days * 86_400) + Int64(c.hour * 3600 + c.minute * 60 + c.second)) * 1000 + Int64(c.millisecond)
    }

    /// `2026-11-24T13:45:01.123Z`.
    public static func appendRFC3339(milliseconds ms: Int64, to out: inout [UInt8]) {
        let c = civil(milliseconds: ms)
        appendDigits(c.year, 4, &out); out.append(UInt8(ascii: "-"))
        appendDigits(c.month, 2, &out); out.append(UInt8(ascii: "-"))
        appendDigits(c.day, 2, &out); out.append(UInt8(ascii: "T"))
        appendDigits(c.hour, 2, &out); out.append(UInt8(ascii: ":"))
        appendDigits(c.minute, 2, &out); out.append(UInt8(ascii: ":"))
        appendDigits(c.second, 2, &out); out.append(UInt8(ascii: "."))
        appendDigits(c.millisecond, 3, &out); out.append(UInt8(ascii: "Z"))
    }

    /// The text up to the milliseconds (`2026-11-24T13:45:01.`) of the last second an
    /// encoder wrote, reused while its records keep falling in that second: the event loop
    /// writes a meter record per `/_api` call, thousands per second, and the calendar
    /// arithmetic and 14 digits were ~1,200 instructions of each.
    public struct SecondPrefix: Sendable {
        private var second: Int64 = .min
        private var text: [UInt8] = []

        public init() {}

        /// Appends `ms` as ``UTCTimestamp/appendRFC3339(milliseconds:to:)`` does.
        public mutating func appendRFC3339(milliseconds ms: Int64, to out: inout [UInt8]) {
            let second = UTCTimestamp.floorDiv(ms, 1000)
            if second != self.second {
                text.removeAll(keepingCapacity: true)
                UTCTimestamp.appendRFC3339(milliseconds: second * 1000, to: &text)
                text.removeLast(4)  // "000Z"
                self.second = second
            }
            out.append(contentsOf: text)
            UTCTimestamp.appendDigits(Int(ms - second * 1000), 3, &out)
            out.append(UInt8(ascii: "Z"))
        }
    }

    public static func rfc3339(milliseconds ms: Int64) -> String {
        var out: [UInt8] = []
        appendRFC3339(milliseconds: ms, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `2026-11-24`, the UTC day (file names, `--by day`).
    public static func day(milliseconds ms: Int64) -> String {
        let c = civil(milliseconds: ms)
        var out: [UInt8] = []
        appendDigits(c.year, 4, &out); out.append(UInt8(ascii: "-"))
        appendDigits(c.month, 2, &out); out.append(UInt8(ascii: "-"))
        appendDigits(c.day, 2, &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z` or `±HH:MM` (RFC 3339,
    /// date-only means midnight UTC); `nil` if malformed.
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<from + count {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var c = Civil(year: y, month: mo, day: d, hour: 0, minute: 0, second: 0, millisecond: 0)
        if b.count == 10 { return milliseconds(c) }
        guard b.count >= 16, b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "), b[13] == UInt8(ascii: ":"),
              let h = num(11, 2), let mi = num(14, 2), h < 24, mi < 60 else { return nil }
        c.hour = h
        c.minute = mi
        var i = 16
        if i < b.count, b[i] == UInt8(ascii: ":") {
            guard let s = num(i + 1, 2), s < 61 else { return nil }
            c.second = min(s, 59)
            i += 3
            if i < b.count, b[i] == UInt8(ascii: ".") {
                var digits = 0
                var frac = 0
                i += 1
                while i < b.count, b[i] >= 48, b[i] <= 57 {
                    if digits < 3 { frac = frac * 10 + Int(b[i] - 48) }
                    digits += 1
                    i += 1
                }
                guard digits > 0 else { return nil }
                if digits < 3 { for _ in digits..<3 { frac *= 10 } }
                c.millisecond = frac
            }
        }
        var offsetMs: Int64 = 0
        if i == b.count { return milliseconds(c) }  // no zone: UTC
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            guard i + 1 == b.count else { return nil }
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard i + 6 == b.count, b[i + 3] == UInt8(ascii: ":"), let oh = num(i + 1, 2), let om = num(i + 4, 2) else { return nil }
            offsetMs = Int64(oh * 3600 + om * 60) * 1000 * (b[i] == UInt8(ascii: "+") ? 1 : -1)
        } else {
            return nil
        }
        return milliseconds(c) - offsetMs
    }

    /// Start of the UTC month after the one holding `ms` (monthly quotas reset then).
    public static func startOfNextMonth(milliseconds ms: Int64) -> Int64 {
        let c = civil(milliseconds: ms)
        let (y, m) = c.month == 12 ? (c.year + 1, 1) : (c.year, c.month + 1)
        return milliseconds(Civil(year: y, month: m, day: 1, hour: 0, minute: 0, second: 0, millisecond: 0))
    }

    /// `YYYY-MM` of a time (monthly quota key, file-name prefix).
    public static func month(milliseconds ms: Int64) -> String {
        String(day(milliseconds: ms).prefix(7))
    }

    /// `v` (not negative) in decimal, zero-padded to `width`; written straight into `out`
    /// (a digits array per field was seven allocations per meter record).
    private static func appendDigits(_ v: Int, _ width: Int, _ out: inout [UInt8]) {
        let n = max(v, 0)
        var count = 1
        var divisor = 1
        while divisor <= n / 10 {
            divisor *= 10
            count += 1
        }
        for _ in count..<max(width, count) { out.append(48) }
        while divisor > 0 {
            out.append(UInt8(48 + (n / divisor) % 10))
            divisor /= 10
        }
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func civilFromDays(_ z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }

    private static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
        let y = Int64(m <= 2 ? y0 - 1 : y0)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(m > 2 ? m - 3 : m + 9)
        let doy = (153 * mp + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
