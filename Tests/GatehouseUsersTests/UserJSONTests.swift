import GatehouseUsers
import Testing

/// A user's JSON strings quoted over bytes (``UserJSON/quote(_:)``) against the scalar-
/// by-scalar version it replaced, kept here as the model.
@Suite struct UserJSONTests {
    /// Every string of up to three pieces drawn from pieces that probe each escape (quote,
    /// backslash, the named controls, other controls, `<`, `>`, `&`, U+2028 and U+2029 and
    /// their neighbours U+2027 and U+202A, other multi-byte characters, DEL).
    @Test func quotingMatchesTheScalarModel() {
        let pieces = [
            "", "user_2abc", "Ada.Lovelace@example.com", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1f}", "\u{7f}", "<", ">", "&",
            "\u{2028}", "\u{2029}", "\u{2027}", "\u{202a}", "é", "日本", "😀", "</script>", "a\u{e2}",
        ]
        var checked = 0
        for a in pieces {
            for b in pieces {
                for value in [a, a + b, b + a + b] {
                    #expect(UserJSON.quote(value) == Self.reference(value), "\(value.unicodeScalars.map(\.value))")
                    checked += 1
                }
            }
        }
        #expect(checked == pieces.count * pieces.count * 3)
        #expect(UserJSON.quote(nil) == "null")
        #expect(UserJSON.quote("<b>\u{2028}") == #""\u003cb\u003e\u2028""#)
    }

    /// The object written in one array is the members quoted and joined, as before.
    @Test func publicObjectsAreTheQuotedMembers() {
        let profiles = [
            UserProfile(), UserProfile(email: "a@example.com"), UserProfile(email: "a@example.com", name: "Ada <Lovelace>", avatarURL: "https://img.test/a?x=1&y=2"),
            UserProfile(name: "\u{2028}\"quoted\"\n", avatarURL: ""), UserProfile(email: "日本@例え.jp", name: "😀"),
        ]
        for id in ["user_2abc", "", "id\"with\\escapes"] {
            for profile in profiles {
                let expected = "{\"id\":" + Self.reference(id) + ",\"email\":" + (profile.email.map(Self.reference) ?? "null")
                    + ",\"name\":" + (profile.name.map(Self.reference) ?? "null") + ",\"avatar_url\":" + (profile.avatarURL.map(Self.reference) ?? "null") + "}"
                #expect(UserJSON.publicObject(id: id, profile: profile) == expected)
            }
        }
    }

    /// The quoting as it was, a `Unicode.Scalar` at a time.
    private static func reference(_ value: String) -> String {
        func hexEscape(_ v: UInt32) -> String {
            let hex = String(v, radix: 16)
            return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}": out += hexEscape(scalar.value)
            default:
                if scalar.value < 0x20 { out += hexEscape(scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
