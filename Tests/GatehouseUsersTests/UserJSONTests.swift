import GatehouseUsers
import Testing

/// A user's JSON strings quoted over bytes (``UserJSON/quote(_:)``): each probing piece
/// written as the scalar-by-scalar version it replaced wrote it (the table), and any
/// string of pieces quoted as its pieces' forms joined.
@Suite struct UserJSONTests {
    /// Each piece and its escaped form: quote, backslash, the named controls, other
    /// controls, `<`, `>`, `&`, U+2028 and U+2029 beside U+2027 and U+202A, other
    /// multi-byte characters, DEL (not escaped).
    private static let forms: [(String, String)] = [
        ("", ""), ("user_2abc", "user_2abc"), ("Ada.Lovelace@example.com", "Ada.Lovelace@example.com"),
        ("\"", #"\""#), ("\\", #"\\"#), ("\n", #"\n"#), ("\r", #"\r"#), ("\t", #"\t"#),
        ("\u{0}", #"\u0000"#), ("\u{1f}", #"\u001f"#), ("\u{7f}", "\u{7f}"), ("<", #"\u003c"#), (">", #"\u003e"#),
        ("&", #"\u0026"#), ("\u{2028}", #"\u2028"#), ("\u{2029}", #"\u2029"#), ("\u{2027}", "\u{2027}"),
        ("\u{202a}", "\u{202a}"), ("é", "é"), ("日本", "日本"), ("😀", "😀"), ("</script>", #"\u003c/script\u003e"#),
        ("a\u{e2}", "a\u{e2}"),
    ]

    @Test func quotingWritesEachPiecesForm() {
        var checked = 0
        for (a, aForm) in Self.forms {
            for (b, bForm) in Self.forms {
                for (value, form) in [(a, aForm), (a + b, aForm + bForm), (b + a + b, bForm + aForm + bForm)] {
                    #expect(UserJSON.quote(value) == "\"" + form + "\"", "\(value.unicodeScalars.map(\.value))")
                    checked += 1
                }
            }
        }
        #expect(checked == Self.forms.count * Self.forms.count * 3)
        #expect(UserJSON.quote(nil) == "null")
    }

    /// The object written in one array is the members quoted and joined, as before.
    @Test func publicObjectsAreTheQuotedMembers() {
        let profiles = [
            UserProfile(), UserProfile(email: "a@example.com"), UserProfile(email: "a@example.com", name: "Ada <Lovelace>", avatarURL: "https://img.test/a?x=1&y=2"),
            UserProfile(name: "\u{2028}\"quoted\"\n", avatarURL: ""), UserProfile(email: "日本@例え.jp", name: "😀"),
        ]
        for id in ["user_2abc", "", "id\"with\\escapes"] {
            for profile in profiles {
                let expected = "{\"id\":" + UserJSON.quote(id) + ",\"email\":" + UserJSON.quote(profile.email)
                    + ",\"name\":" + UserJSON.quote(profile.name) + ",\"avatar_url\":" + UserJSON.quote(profile.avatarURL) + "}"
                #expect(UserJSON.publicObject(id: id, profile: profile) == expected)
            }
        }
        #expect(UserJSON.publicObject(id: "u", profile: UserProfile(name: "<b>")) == #"{"id":"u","email":null,"name":"\u003cb\u003e","avatar_url":null}"#)
    }
}
