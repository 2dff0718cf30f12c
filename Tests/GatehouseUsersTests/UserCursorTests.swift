import GatehouseUsers
import Testing

@Suite struct UserCursorTests {
    @Test func roundTripsAnID() throws {
        let cursor = UserCursor(lastID: "user_2abc/é")
        let parsed = try #require(UserCursor(encoded: cursor.encoded))
        #expect(parsed.lastID == "user_2abc/é")
        #expect(!cursor.encoded.contains("="))
    }

    @Test(arguments: ["", "!!!", "a", "abc=", "dXNlcl8x=", "/+/+", String(repeating: "QUFB", count: 2000)])
    func rejectsWhatIsNotACursor(_ text: String) {
        #expect(UserCursor(encoded: text) == nil)
    }

    @Test func rejectsInvalidUTF8() {
        // 0xff 0xfe is not UTF-8.
        #expect(UserCursor(encoded: "__4") == nil)
    }
}
