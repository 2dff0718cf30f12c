import GatehouseAuth
import Testing

@Suite("Credential extraction")
struct CredentialExtractorTests {
    func extract(_ auth: [String], _ cookies: [String] = []) -> CredentialExtraction {
        CredentialExtractor.extract(authorizationValues: auth, cookieHeaderValues: cookies)
    }

    @Test func bearer() {
        #expect(extract(["Bearer abc.def.ghi"]) == .credential(Credential(token: "abc.def.ghi", source: .authorizationHeader)))
        #expect(extract(["bearer   tok"]) == .credential(Credential(token: "tok", source: .authorizationHeader)))
        #expect(extract(["BEARER tok"]) == .credential(Credential(token: "tok", source: .authorizationHeader)))
    }

    /// The token is a slice of the field's value, not a copy (the gate looks a cached token
    /// up in place), and exactly the token whatever the spacing and case around it.
    @Test func theBearerTokenIsASliceOfTheValue() throws {
        for (value, token) in [("Bearer abc.def.ghi", "abc.def.ghi"), ("  bearer   t0k\t ", "t0k"), ("BEARER x", "x")] {
            let slice = try #require(CredentialExtractor.bearerToken(value))
            #expect(slice == token[...])
            #expect(slice.base == value, "a slice of the value itself")
            #expect(CredentialExtractor.extract(authorization: value) == .credential(Credential(token: token, source: .authorizationHeader)))
        }
        #expect(CredentialExtractor.bearerToken("Bearer a b") == nil)
        #expect(CredentialExtractor.extract(authorization: "Basic x") == .malformedHeader)
    }

    @Test func malformedHeaders() {
        for value in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearertok", "Bearer a b", "Token x", "", "Bearer\ttok", "Bearer tök"] {
            #expect(extract([value]) == .malformedHeader, "\(value)")
        }
        #expect(extract(["Bearer a", "Bearer b"]) == .malformedHeader)
        #expect(extract(["Basic x"], ["__session=tok"]) == .malformedHeader)
    }

    @Test func headerBeatsCookie() {
        #expect(extract(["Bearer h"], ["__session=c"]) == .credential(Credential(token: "h", source: .authorizationHeader)))
    }

    @Test func cookies() {
        #expect(extract([], ["a=1; __session_abc=s2; __session=s1"]) == .credential(Credential(token: "s1", source: .sessionCookie)))
        #expect(extract([], ["__session_abc=s2"]) == .credential(Credential(token: "s2", source: .sessionCookie)))
        #expect(extract([], ["__session_abc=s2", "__session=s1; __client_uat=1700000000"])
            == .credential(Credential(token: "s1", source: .sessionCookie, clientUAT: 1_700_000_000)))
        #expect(extract([], ["__session_abc=s2; __client_uat_abc=12; __client_uat=99"])
            == .credential(Credential(token: "s2", source: .sessionCookie, clientUAT: 12)))
        #expect(extract([], ["__session=s; __client_uat=notanumber"]) == .credential(Credential(token: "s", source: .sessionCookie)))
        #expect(extract([], ["session=x; __sessionx=y"]) == .none)
        #expect(extract([], []) == .none)
        #expect(extract([], ["__session="]) == .none)
    }

    @Test func descriptionHidesToken() {
        let c = Credential(token: "secret-token", source: .authorizationHeader)
        #expect(!"\(c)".contains("secret-token"))
    }

    /// The byte-wise cookie reading against the `Substring` one it replaced (the model
    /// below), over every value of one to three pieces built from pieces that probe each
    /// rule (spaces and tabs, quotes, empty values, no `=`, `=` in the value, names that
    /// are, begin like or only resemble the Clerk names, suffixed pairs, a JWT-sized token),
    /// alone and beside a second field.
    @Test func cookieReadingMatchesTheTextModel() {
        let token = "eyJhbGciOiJSUzI1NiJ9." + String(repeating: "e30", count: 200) + ".c2ln"
        let pieces = [
            "", " ", "a=1", "__session=s1", " __session = s1 ", "__session=\"q\"", "__session=\"\"", "__session=", "__session",
            "__session=\(token)", "__session_abc=s2", "__session_=s3", "__session_abc=", "__sessionx=y", "__client_uat=17",
            "\t__client_uat=\t18", "__client_uat=x", "__client_uat_abc=12", "__client_uat_def=13", "__client_uat_abc=14",
            "__client_uat_=15", "_session=z", "x=__session=1", "\"=\"", "__session=a=b", "k=\"v",
        ]
        var checked = 0
        for a in pieces {
            for b in pieces {
                for values in [[a], ["\(a); \(b)"], ["\(b);\(a);", "\(a)"], ["\(a);;\(b)", "__client_uat_abc=99; \(b)"]] {
                    let extracted = CredentialExtractor.extract(authorizationValues: [], cookieHeaderValues: values)
                    #expect(extracted == Self.referenceSessionCookie(values), "\(values)")
                    checked += 1
                }
            }
        }
        #expect(checked == pieces.count * pieces.count * 4)
    }

    /// The cookie reading as it was written over `Substring`s, but for one deliberate
    /// change: with `__session` and no `__client_uat`, the first `__client_uat_<suffix>` in
    /// order (a dictionary's first value before, which is unspecified).
    private static func referenceSessionCookie(_ headerValues: [String]) -> CredentialExtraction {
        func trimmingSpaces(_ text: Substring) -> String {
            var s = text
            while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
            while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
            return String(s)
        }
        var session: String?
        var suffixed: (suffix: String, value: String)?
        var uat: String?
        var suffixedUAT: [(suffix: String, value: String)] = []
        for header in headerValues {
            for pair in header.split(separator: ";") {
                guard let eq = pair.firstIndex(of: "=") else { continue }
                let name = trimmingSpaces(pair[..<eq])
                var value = trimmingSpaces(pair[pair.index(after: eq)...])
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                    value = String(value.dropFirst().dropLast())
                }
                if name == "__session" {
                    if session == nil, !value.isEmpty { session = value }
                } else if name.hasPrefix("__session_") {
                    if suffixed == nil, !value.isEmpty { suffixed = (String(name.dropFirst(10)), value) }
                } else if name == "__client_uat" {
                    if uat == nil { uat = value }
                } else if name.hasPrefix("__client_uat_") {
                    let suffix = String(name.dropFirst(13))
                    if !suffixedUAT.contains(where: { $0.suffix == suffix }) { suffixedUAT.append((suffix, value)) }
                }
            }
        }
        if let session {
            let raw = uat ?? suffixedUAT.first?.value
            return .credential(Credential(token: session, source: .sessionCookie, clientUAT: raw.flatMap { Int64($0) }))
        }
        if let suffixed {
            let raw = suffixedUAT.first(where: { $0.suffix == suffixed.suffix })?.value ?? uat
            return .credential(Credential(token: suffixed.value, source: .sessionCookie, clientUAT: raw.flatMap { Int64($0) }))
        }
        return .none
    }
}
