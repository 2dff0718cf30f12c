import GatehouseCore
import Testing

/// Request ids kept as numbers and written as hex only where they go.
@Suite struct RequestIDTests {
    @Test func aMadeIdIsThirtyTwoLowercaseHexDigitsHighFirst() {
        #expect(RequestID(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210).description == "0123456789abcdeffedcba9876543210")
        #expect(RequestID(high: 0, low: 1).description == String(repeating: "0", count: 31) + "1")
        #expect(RequestID(high: .max, low: .max).description == String(repeating: "f", count: 32))
    }

    /// What the upstream head and the meter line copy is the text the logs print.
    @Test(arguments: [RequestID(high: 0xdead_beef, low: 42), RequestID("abc-123"), RequestID("")])
    func theBytesWrittenAreTheText(id: RequestID) {
        #expect(id.withUTF8Bytes { Array($0) } == Array(id.description.utf8))
        #expect(id.utf8Count == id.description.utf8.count)
    }

    @Test func aMadeIdEqualsTheSameDigitsReceived() {
        let made = RequestID(high: 0xdead_beef, low: 42)
        let received = RequestID(made.description)
        #expect(made.isGenerated && !received.isGenerated)
        #expect(made == received)
        #expect(made.hashValue == received.hashValue)
        #expect(made != RequestID(high: 0xdead_beef, low: 43))
        #expect(RequestID("a") != "b")
    }
}
