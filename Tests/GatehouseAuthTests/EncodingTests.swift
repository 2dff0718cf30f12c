import GatehouseAuth
import Testing

@Suite("Base64URL and StrictJSON")
struct EncodingTests {
    @Test func base64url() {
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xfb, 0xff])
        #expect(Base64URL.decode("") == [])
        for bad in ["-_8=", "+/8", "-_ 8", "A", "-_9", "ab\n"] {
            #expect(Base64URL.decode(bad) == nil, "\(bad)")
        }
        let bytes: [UInt8] = (0..<100).map { UInt8($0 * 7 % 256) }
        for n in 0..<bytes.count { #expect(Base64URL.decode(Base64URL.encode(bytes[..<n])) == Array(bytes[..<n])) }
    }

    /// The three-bytes-at-a-time encoder against the bit accumulator it replaced: every
    /// length up to 70 (each remainder), every byte value at each position of a group,
    /// contiguous and non-contiguous inputs.
    @Test func encoderMatchesTheBitAccumulator() {
        func reference(_ bytes: [UInt8]) -> String {
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
            var out: [UInt8] = []
            var acc: UInt32 = 0
            var bits = 0
            for b in bytes {
                acc = (acc << 8) | UInt32(b)
                bits += 8
                while bits >= 6 {
                    bits -= 6
                    out.append(alphabet[Int((acc >> UInt32(bits)) & 0x3F)])
                }
                acc &= (UInt32(1) << UInt32(bits)) &- 1
            }
            if bits > 0 { out.append(alphabet[Int((acc << UInt32(6 - bits)) & 0x3F)]) }
            return String(decoding: out, as: UTF8.self)
        }
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var checked = 0
        for length in 0...70 {
            let bytes: [UInt8] = (0..<length).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            #expect(Base64URL.encode(bytes) == reference(bytes), "length \(length)")
            #expect(Base64URL.encode(bytes.lazy.map { $0 }) == reference(bytes), "length \(length), not contiguous")
            checked += 2
        }
        for position in 0..<3 {
            for value in 0...255 {
                var bytes: [UInt8] = [0x5A, 0xA5, 0x0F, 0xF0]
                bytes[position] = UInt8(value)
                for length in 1...4 where position < length {
                    #expect(Base64URL.encode(bytes[..<length]) == reference(Array(bytes[..<length])))
                    checked += 1
                }
            }
        }
        #expect(checked == 142 + 256 * (4 + 3 + 2))
    }

    /// The payload's form is checked without decoding it (before the signature); it must
    /// accept exactly what decoding accepts, or one token would have two spellings.
    @Test func wellFormedAgreesWithDecode() {
        for text in ["-_8=", "+/8", "-_ 8", "A", "-_9", "-_8", "", "AA", "AB", "AAA", "AAB", "AAAA", "ab\n", "QUJD", "QUI", "QUJ"] {
            #expect(Base64URL.isWellFormed(utf8: Array(text.utf8)) == (Base64URL.decode(text) != nil), "\(text)")
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.".utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<5_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let length = Int(state >> 59)
            var text: [UInt8] = []
            for _ in 0..<length {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                // Mostly the real alphabet, sometimes a byte outside it.
                text.append(alphabet[Int(state >> 33) % (state >> 62 == 0 ? alphabet.count : 64)])
            }
            #expect(Base64URL.isWellFormed(utf8: text) == (Base64URL.decode(utf8: text) != nil), "\(String(decoding: text, as: UTF8.self))")
        }
    }

    /// The table-driven decoder against the plain bit-accumulator it replaced: every byte
    /// value at every position of texts of each length class (whole quads, 2 and 3 left
    /// over), and random texts; the same bytes out, the same refusals.
    @Test func decodesExactlyAsTheBitByBitDecoder() {
        func reference(_ input: [UInt8]) -> [UInt8]? {
            if input.count % 4 == 1 { return nil }
            var out: [UInt8] = []
            var acc: UInt32 = 0
            var bits = 0
            for c in input {
                let v: UInt32
                switch c {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "-"): v = 62
                case UInt8(ascii: "_"): v = 63
                default: return nil
                }
                acc = (acc << 6) | v
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                    acc &= (UInt32(1) << UInt32(bits)) &- 1
                }
            }
            return acc == 0 ? out : nil
        }
        for length in [4, 6, 7, 8, 10, 11] {
            let base = Array(Base64URL.encode((0..<(length * 3 / 4)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }).utf8.prefix(length))
            for position in 0..<length {
                for value in 0...255 {
                    var text = base
                    text[position] = UInt8(value)
                    #expect(Base64URL.decode(utf8: text) == reference(text), "\(length) \(position) \(value)")
                    #expect(Base64URL.isWellFormed(utf8: text) == (reference(text) != nil), "\(length) \(position) \(value)")
                }
            }
        }
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for _ in 0..<3_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let bytes = (0..<Int(state >> 56)).map { UInt8(truncatingIfNeeded: ($0 &* 131) ^ Int(state >> 40)) }
            let text = Array(Base64URL.encode(bytes).utf8)
            #expect(Base64URL.decode(utf8: text) == bytes)
            #expect(Base64URL.decode(utf8: text[...]) == reference(text))
        }
    }

    @Test func parsesAndSerializes() throws {
        let v = try StrictJSON.parse(Array(#" {"a":[1,2.5,-3e2,true,false,null],"b":"\u00e9\ud83d\ude00\n","c":{}} "#.utf8))
        #expect(v == ["a": [1, 2.5, -300, true, false, nil], "b": "é😀\n", "c": [:]])
        #expect(StrictJSON.serialize(v) == #"{"a":[1,2.5,-300,true,false,null],"b":"é😀\n","c":{}}"#)
        #expect(StrictJSON.serialize(.number(1_700_000_000)) == "1700000000")
        #expect(StrictJSON.serialize("\u{1}\"\\") == #""\u0001\"\\""#)
    }

    @Test func rejects() {
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect((try? StrictJSON.parse(Array(ok.utf8))) != nil)
        for bad in [
            #"{"a":1,"a":2}"#, #"{"a":1,"\u0061":2}"#, #"{"a":1} x"#, deep, "01", "1.", "+1", #"{"a":1,}"#, "[1,]",
            #""\ud800""#, "\"a\u{1}\"", "NaN", "", "tru", #"{'a':1}"#, "\u{FEFF}{}",
        ] {
            #expect((try? StrictJSON.parse(Array(bad.utf8))) == nil, "\(bad)")
        }
        #expect((try? StrictJSON.parse([0x22, 0xC0, 0xAF, 0x22])) == nil)
        #expect((try? StrictJSON.parse([0x22, 0xED, 0xA0, 0x80, 0x22])) == nil)
        do {
            _ = try StrictJSON.parse(Array(#"{"alg":"RS256","alg":"none"}"#.utf8))
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.isDuplicateMember)
            #expect(!error.description.contains("RS256"))
        }
    }
}
