import Testing
@testable import GatehouseMetering

/// The meter line's escape test reads eight bytes at a time; whatever it decides must be
/// what the byte-by-byte rule decides (a byte below 0x20, `"`, `\` or DEL), for every byte
/// value at every position of a word and of the tail, and for words with several matches
/// (where a borrow could mislead a word trick).
@Suite struct JSONEscapeTests {
    static func reference(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7f || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    @Test func everyByteAtEveryPositionIsFound() {
        for length in 1...17 {
            for position in 0..<length {
                for value in UInt8.min...UInt8.max {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = value
                    let found = bytes.withUnsafeBufferPointer { JSONText.needsEscape($0) }
                    #expect(found == Self.reference(value), "0x\(String(value, radix: 16)) at \(position) of \(length)")
                }
            }
        }
        #expect([UInt8]().withUnsafeBufferPointer { JSONText.needsEscape($0) } == false)
    }

    @Test func wordsWithAnyMixOfBytesAreJudgedExactly() {
        // Bytes drawn from the edges of every class (and UTF-8 bytes), so borrows between
        // neighbouring matches and near-misses are common.
        let pool: [UInt8] = [0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xa2, 0xdc, 0xff, 0x61]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<200_000 {
            var word: UInt64 = 0
            var expected = false
            for shift in stride(from: 0, to: 64, by: 8) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let byte = pool[Int(state >> 59) % pool.count]
                expected = expected || Self.reference(byte)
                word |= UInt64(byte) << UInt64(shift)
            }
            #expect(JSONText.wordNeedsEscape(word) == expected, "0x\(String(word, radix: 16))")
        }
    }

    /// The line itself: each ASCII byte at each position of a 17-byte value comes out
    /// escaped exactly when the rule says so.
    @Test func linesEscapeWhatTheRuleSays() {
        for position in 0..<17 {
            for value in UInt8(0)...UInt8(0x7f) {
                var bytes = [UInt8](repeating: UInt8(ascii: "u"), count: 17)
                bytes[position] = value
                let user = String(decoding: bytes, as: UTF8.self)
                var out: [UInt8] = []
                MeterRecord(timestampMs: 0, org: "o", app: "a", user: user, method: "GET", path: "/", status: 200,
                            requestBytes: 0, responseBytes: 0, durationMs: 0, requestID: "r", outcome: .ok).appendJSONLine(to: &out)
                let line = String(decoding: out, as: UTF8.self)
                let escaped: String
                switch value {
                case UInt8(ascii: "\""): escaped = "\\\""
                case UInt8(ascii: "\\"): escaped = "\\\\"
                case 0x0a: escaped = "\\n"
                case 0x0d: escaped = "\\r"
                case 0x09: escaped = "\\t"
                case 0..<0x20, 0x7f: escaped = "\\u00" + (value < 0x10 ? "0" : "") + String(value, radix: 16)
                default: escaped = String(UnicodeScalar(value))
                }
                let expected = String(repeating: "u", count: position) + escaped + String(repeating: "u", count: 16 - position)
                #expect(line.contains(#""user":"\#(expected)","#), "0x\(String(value, radix: 16)) at \(position)")
            }
        }
    }
}
