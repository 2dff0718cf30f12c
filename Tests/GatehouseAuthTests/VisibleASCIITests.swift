@testable import GatehouseAuth
import Testing

@Suite("Visible-ASCII check, eight bytes at a time")
struct VisibleASCIITests {
    /// Every byte value at every offset of buffers long enough to have a word part and a
    /// tail, against the byte-at-a-time rule the word check replaces.
    @Test func agreesWithTheByteRuleForEveryByteAtEveryOffset() {
        for length in [1, 7, 8, 9, 16, 23] {
            for offset in 0..<length {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[offset] = UInt8(value)
                    let expected = value >= 0x21 && value <= 0x7E
                    let got = bytes.withUnsafeBufferPointer { VisibleASCII.contains(only: $0) }
                    #expect(got == expected, "length \(length) offset \(offset) byte \(value)")
                }
            }
        }
    }

    /// Neighbours that borrow or carry into each other: the edges of the range beside
    /// every other value, in both byte orders.
    @Test func flagsAnOffenderWhateverItsNeighbours() {
        for edge: UInt8 in [0x00, 0x20, 0x7F, 0x80, 0xFF] {
            for neighbour in 0...255 {
                for pair in [[edge, UInt8(neighbour)], [UInt8(neighbour), edge]] {
                    let bytes = [UInt8](repeating: 0x41, count: 3) + pair + [UInt8](repeating: 0x41, count: 3)
                    #expect(!bytes.withUnsafeBufferPointer { VisibleASCII.contains(only: $0) }, "\(pair)")
                }
            }
        }
        let all = [UInt8](0x21...0x7E)
        #expect(all.withUnsafeBufferPointer { VisibleASCII.contains(only: $0) })
        #expect([UInt8]().withUnsafeBufferPointer { VisibleASCII.contains(only: $0) })
    }

    @Test func bearerTokensWithAControlOrNonASCIIByteAreMalformed() {
        let token = String(repeating: "eyJhbGciOiJSUzI1NiJ9", count: 35)
        #expect(CredentialExtractor.extract(authorizationValues: ["Bearer " + token], cookieHeaderValues: []) != .malformedHeader)
        for bad in ["\u{7F}", "\u{01}", "é", " "] {
            let forged = String(token.prefix(400)) + bad + String(token.dropFirst(400))
            #expect(CredentialExtractor.extract(authorizationValues: ["Bearer " + forged], cookieHeaderValues: []) == .malformedHeader, "\(bad.unicodeScalars.first!.value)")
        }
    }
}
