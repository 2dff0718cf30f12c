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
