import Foundation
import GatehouseTesting
import Testing

/// Assertions shared by the live suites: the exact gate answers SPEC's table fixes.
enum Gate {
    static let invalidTokenChallenge = #"Bearer realm="gatehouse", error="invalid_token""#
    static let missingTokenChallenge = #"Bearer realm="gatehouse""#

    /// A 401 for a present but bad credential: exact body and `error="invalid_token"`.
    static func expectRejected(_ response: TestHTTPResponse, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 401, sourceLocation: sourceLocation)
        #expect(response.text == #"{"error":"unauthenticated","reason":"\#(reason)"}"#, sourceLocation: sourceLocation)
        #expect(response.header("www-authenticate") == invalidTokenChallenge, sourceLocation: sourceLocation)
        #expect(response.header("content-type") == "application/json", sourceLocation: sourceLocation)
    }

    static func expectMissing(_ response: TestHTTPResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 401, sourceLocation: sourceLocation)
        #expect(response.text == #"{"error":"unauthenticated","reason":"missing_token"}"#, sourceLocation: sourceLocation)
        #expect(response.header("www-authenticate") == missingTokenChallenge, sourceLocation: sourceLocation)
    }

    static func expectForbidden(_ response: TestHTTPResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 403, sourceLocation: sourceLocation)
        #expect(response.text == #"{"error":"forbidden"}"#, sourceLocation: sourceLocation)
    }

    static func expectUnavailable(_ response: TestHTTPResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 503, sourceLocation: sourceLocation)
        #expect(response.text == #"{"error":"auth_unavailable"}"#, sourceLocation: sourceLocation)
        let retryAfter = response.header("retry-after").flatMap { Int($0) }
        #expect((retryAfter ?? 0) >= 1, "Retry-After: \(String(describing: response.header("retry-after")))", sourceLocation: sourceLocation)
    }

    static func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer " + token)] }

    static func json(_ response: TestHTTPResponse) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
    }

    static var now: Double { Date().timeIntervalSince1970 }
}
