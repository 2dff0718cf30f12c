import Foundation
import GatehouseAuth
import Testing

@testable import GatehouseProxy

/// SPEC "The /_api gate": a 401's body is exactly `{"error":"unauthenticated","reason":…}`
/// with the reason's SPEC name, for every reason (the bodies are literals per reason).
@Suite struct LocalResponseTests {
    @Test(arguments: TokenRejectionReason.allCases)
    func everyRejectionReasonHasItsExactBody(reason: TokenRejectionReason) throws {
        let body = LocalResponse.gate(.unauthenticated(reason)).body
        #expect(body == #"{"error":"unauthenticated","reason":""# + reason.rawValue + #""}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])
        #expect(object == ["error": "unauthenticated", "reason": reason.rawValue])
    }
}
