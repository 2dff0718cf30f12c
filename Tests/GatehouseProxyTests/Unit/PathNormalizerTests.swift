import GatehouseCore
import Testing

/// Tier 1: SPEC "Routing" path normalisation as a table.
@Suite struct PathNormalizerTests {
    static let normalised: [(String, String, String?)] = [
        ("/", "/", nil),
        ("/_api/x", "/_api/x", nil),
        ("/_api/x?a=1&b=%2F", "/_api/x", "a=1&b=%2F"),
        ("/_api?", "/_api", ""),
        ("//_api///x", "/_api/x", nil),
        ("/_api/./x", "/_api/x", nil),
        ("/_api/x/.", "/_api/x/", nil),
        ("/_api/x/..", "/_api/", nil),
        ("/_api/../x", "/x", nil),
        ("/a/b/../../c", "/c", nil),
        ("/a/b/", "/a/b/", nil),
        ("/..a/b", "/..a/b", nil),
        ("/a/.../b", "/a/.../b", nil),
        ("/%5F_api/x", "/__api/x", nil),
        ("/%5f%61pi/x", "/_api/x", nil),
        ("/_api/%2e/x", "/_api/x", nil),
        ("/_api/%2e%2e/x", "/x", nil),
        ("/%7Euser", "/~user", nil),
        ("/a%20b", "/a%20b", nil),
        ("/a%3fb", "/a%3Fb", nil),
        ("/caf%c3%a9", "/caf%C3%A9", nil),
        ("/_API/x", "/_API/x", nil),
    ]

    @Test func normalisesToTheExpectedPath() throws {
        for (input, path, query) in Self.normalised {
            let target = try PathNormalizer.normalize(input).get()
            #expect(target.path == path, "\(input)")
            #expect(target.query.map(String.init) == query, "\(input)")
        }
    }

    static let refused: [(String, RequestTargetError)] = [
        ("/%2e%2E/", .climbsAboveRoot),
        ("/../x", .climbsAboveRoot),
        ("/a/../../x", .climbsAboveRoot),
        ("/_api/%2e%2e/%2e%2e/x", .climbsAboveRoot),
        ("/_api%2fx", .encodedSeparator),
        ("/_api%2Fx", .encodedSeparator),
        ("/_api%5cx", .backslash),
        ("/_api%5Cx", .backslash),
        ("/_api\\x", .backslash),
        ("/_api/%00", .nulByte),
        ("/_api/\u{0}", .nulByte),
        ("/_api/%", .invalidPercentEncoding),
        ("/_api/%4", .invalidPercentEncoding),
        ("/_api/%zz", .invalidPercentEncoding),
        ("/a b", .controlCharacter),
        ("/a\tb", .controlCharacter),
        ("/a#b", .controlCharacter),
        ("/a\u{7f}", .controlCharacter),
        ("http://host/_api/x", .notOriginForm),
        ("_api/x", .notOriginForm),
        ("*", .notOriginForm),
        ("", .notOriginForm),
        ("?x=1", .notOriginForm),
    ]

    @Test func refusesUnsafeTargets() {
        for (input, error) in Self.refused {
            #expect(throws: error, "\(input)") { try PathNormalizer.normalize(input).get() }
        }
    }

    @Test func normalisationIsIdempotent() throws {
        for (input, _, _) in Self.normalised {
            let once = try PathNormalizer.normalize(input).get().path
            #expect(try PathNormalizer.normalize(once).get().path == once, "\(input)")
        }
    }

    @Test func prefixMatchingIsBySegmentAndCaseSensitive() {
        #expect(PathNormalizer.path("/_api", isUnder: "/_api"))
        #expect(PathNormalizer.path("/_api/", isUnder: "/_api"))
        #expect(PathNormalizer.path("/_api/v1/x", isUnder: "/_api"))
        #expect(!PathNormalizer.path("/_apix", isUnder: "/_api"))
        #expect(!PathNormalizer.path("/_API/x", isUnder: "/_api"))
        #expect(!PathNormalizer.path("/x/_api", isUnder: "/_api"))
        #expect(!PathNormalizer.path("/", isUnder: "/_api"))
        #expect(PathNormalizer.strip("/_api", from: "/_api/v1/x") == "/v1/x")
        #expect(PathNormalizer.strip("/_api", from: "/_api") == "/")
        #expect(PathNormalizer.strip("/_api", from: "/_api/") == "/")
    }
}
