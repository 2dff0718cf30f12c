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
}
