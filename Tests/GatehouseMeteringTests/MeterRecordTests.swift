import Foundation
import GatehouseCore
import GatehouseMetering
import Testing

@Suite struct MeterRecordTests {
    static let sample = MeterRecord(
        timestampMs: 1_795_960_701_123, org: "org_42", app: "app_abc123", user: "user_2abc", method: "POST",
        path: "/v1/retrievers/search", status: 200, requestBytes: 123, responseBytes: 4567, durationMs: 12.34,
        requestID: "6f1c", outcome: .ok
    )

    @Test func serialisesEveryFieldInSpecOrder() {
        var out: [UInt8] = []
        Self.sample.appendJSONLine(to: &out)
        #expect(String(decoding: out, as: UTF8.self) ==
            #"{"ts":"2026-11-29T13:58:21.123Z","org":"org_42","app":"app_abc123","user":"user_2abc","method":"POST","path":"/v1/retrievers/search","status":200,"req_bytes":123,"resp_bytes":4567,"duration_ms":12.3,"request_id":"6f1c","outcome":"ok"}"# + "\n")
    }

    /// An id Gatehouse made is written as its 32 hex digits, on the plain path and the
    /// escaping one alike.
    @Test func aMadeRequestIDIsWrittenAsItsDigits() {
        var record = Self.sample
        record.requestID = RequestID(high: 0x0123_4567_89ab_cdef, low: 7)
        var out: [UInt8] = []
        record.appendJSONLine(to: &out)
        #expect(String(decoding: out, as: UTF8.self).contains(#","request_id":"0123456789abcdef0000000000000007","outcome":"#))
        record.path = "/needs\"escape"
        out = []
        record.appendJSONLine(to: &out)
        #expect(String(decoding: out, as: UTF8.self).contains(#","request_id":"0123456789abcdef0000000000000007","outcome":"#))
    }

    /// Every outcome is written as its SPEC name (the line spells them from literals).
    @Test(arguments: MeterRecord.Outcome.allCases)
    func everyOutcomeIsWrittenByName(outcome: MeterRecord.Outcome) {
        var record = Self.sample
        record.outcome = outcome
        var out: [UInt8] = []
        record.appendJSONLine(to: &out)
        #expect(String(decoding: out, as: UTF8.self).hasSuffix(#","outcome":"\#(outcome.rawValue)"}"# + "\n"))
    }

    /// A batch reuses the text of the second its last record fell in: every record's `ts`
    /// is still its own, whether the next lands in the same second, the next, a new day,
    /// before 1970, or back in time.
    @Test func aReusedSecondPrefixWritesEachTimestampAsIfAlone() {
        let base: Int64 = 1_795_960_701_123
        let times: [Int64] = [
            base, base, base + 1, base + 876, base + 877, base + 1_000, base - 5_000, base,
            1_796_083_199_999, 1_796_083_200_000, 1_796_083_200_001, 0, 999, 1_000, -1, -1_000, -1_001, -86_400_001,
            253_402_300_799_999, base,
        ]
        var prefix = UTCTimestamp.SecondPrefix()
        for ms in times {
            var alone: [UInt8] = []
            UTCTimestamp.appendRFC3339(milliseconds: ms, to: &alone)
            var reused: [UInt8] = [1, 2]
            prefix.appendRFC3339(milliseconds: ms, to: &reused)
            #expect(reused == [1, 2] + alone, "\(ms): \(String(decoding: alone, as: UTF8.self))")
        }
    }

    /// Numbers are written digit by digit: every magnitude and both ends of `Int`, as
    /// `String(_:)` spells them; durations rounded to tenths.
    @Test func numbersAreWrittenExactly() throws {
        var values = [0, 1, 9, 10, 99, 100, 101, 4567, 1 << 40, Int.max, Int.min, -1, -10, -999]
        var power = 1
        while power <= Int.max / 10 {
            values += [power - 1, power, power + 1]
            power *= 10
        }
        for value in values {
            let record = MeterRecord(
                timestampMs: 0, org: "o", app: "a", user: "u", method: "GET", path: "/", status: 200,
                requestBytes: value, responseBytes: 0, durationMs: 0, requestID: "r", outcome: .ok)
            var out: [UInt8] = []
            record.appendJSONLine(to: &out)
            #expect(String(decoding: out, as: UTF8.self).contains(#""req_bytes":\#(value),"#), "\(value)")
        }
        for (duration, text) in [(0.0, "0.0"), (0.04, "0.0"), (0.05, "0.1"), (9.96, "10.0"), (12345.67, "12345.7"), (-3, "0.0")] {
            var out: [UInt8] = []
            MeterRecord(timestampMs: 0, org: "o", app: "a", user: "u", method: "GET", path: "/", status: 200,
                        requestBytes: 0, responseBytes: 0, durationMs: duration, requestID: "r", outcome: .ok).appendJSONLine(to: &out)
            #expect(String(decoding: out, as: UTF8.self).contains(#""duration_ms":\#(text),"#), "\(duration)")
        }
    }

    /// Lines without an escape are written through a buffer sized for them: the widest
    /// numbers, every outcome, long and multi-byte text all fit, and the line is the one the
    /// escaping path spells (compared with a field that forces that path).
    @Test func theLongestPlainLinesFitTheirBuffer() {
        let long = String(repeating: "é/a", count: 3000)
        for outcome in MeterRecord.Outcome.allCases {
            for number in [Int.min, Int.max] {
                var record = MeterRecord(
                    timestampMs: -1, org: long, app: "", user: long, method: "M", path: long, status: number,
                    requestBytes: number, responseBytes: number, durationMs: 99_999_999_999_999.9, requestID: RequestID(long), outcome: outcome)
                var plain: [UInt8] = []
                record.appendJSONLine(to: &plain)
                record.app = "\u{1}"
                var escaped: [UInt8] = []
                record.appendJSONLine(to: &escaped)
                let line = String(decoding: plain, as: UTF8.self)
                #expect(line == String(decoding: escaped, as: UTF8.self).replacingOccurrences(of: #""app":"\u0001""#, with: #""app":"""#))
                #expect(line.hasPrefix(#"{"ts":"1969-12-31T23:59:59.999Z","org":""# + long + #"","app":"","user":""#))
                #expect(line.contains(#""status":\#(number),"req_bytes":\#(number),"resp_bytes":\#(number),"duration_ms":99999999999999.9,"#))
                #expect(line.hasSuffix(#""request_id":""# + long + #"","outcome":"\#(outcome.rawValue)"}"# + "\n"))
            }
        }
    }

    /// Every field at its longest — each string byte escaped, the widest integers, a duration
    /// past `Int`'s range (written as 0.0, not a trap), every outcome.
    @Test func theLongestLinesAreWrittenWhole() {
        let control = String(repeating: "\u{1}", count: 300)
        for outcome in MeterRecord.Outcome.allCases {
            let record = MeterRecord(
                timestampMs: 0, org: control, app: control, user: control, method: control, path: control,
                status: Int.min, requestBytes: Int.min, responseBytes: Int.min, durationMs: 1e300, requestID: RequestID(control), outcome: outcome)
            var out: [UInt8] = []
            record.appendJSONLine(to: &out)
            let line = String(decoding: out, as: UTF8.self)
            #expect(line.contains(#""status":-9223372036854775808,"req_bytes":-9223372036854775808,"#))
            #expect(line.contains(#""duration_ms":0.0,"#))
            #expect(line.contains(#""org":""# + String(repeating: #"\u0001"#, count: 300) + #"","#))
        }
        let nearLimit = MeterRecord(
            timestampMs: 0, org: "o", app: "a", user: "u", method: "GET", path: "/", status: 200,
            requestBytes: 0, responseBytes: 0, durationMs: 99_999_999_999_999.9, requestID: "r", outcome: .ok)
        var out: [UInt8] = []
        nearLimit.appendJSONLine(to: &out)
        #expect(String(decoding: out, as: UTF8.self).contains(#""duration_ms":99999999999999.9,"#))
    }

    /// Text needing escapes takes the slow path, byte for byte; the rest is copied whole.
    @Test func stringsAreEscaped() {
        var out: [UInt8] = []
        MeterRecord(timestampMs: 0, org: "o\"rg", app: "a\\pp", user: "u\n\u{1}\u{7f}é", method: "GET", path: "/ok/é", status: 200,
                    requestBytes: 0, responseBytes: 0, durationMs: 0, requestID: "r", outcome: .ok).appendJSONLine(to: &out)
        let line = String(decoding: out, as: UTF8.self)
        #expect(line.contains(#""org":"o\"rg","app":"a\\pp","user":"u\n\u0001\u007fé","method":"GET","path":"/ok/é""#))
    }
}
