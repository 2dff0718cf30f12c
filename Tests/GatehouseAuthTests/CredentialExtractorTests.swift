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
