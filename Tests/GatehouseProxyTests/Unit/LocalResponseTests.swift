import Foundation
import GatehouseAuth
import NIOCore
import NIOHTTP1
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

    /// The prebuilt 401s are what building each answer gives, for every reason and both
    /// connection outcomes, each in its own slot; nothing else is prebuilt.
    @Test func prebuiltAnswersAreTheBuiltOnes() throws {
        var slots = Set<Int>()
        for reason in TokenRejectionReason.allCases {
            slots.insert(reason.ordinal)
            let response = LocalResponse.gate(.unauthenticated(reason))
            for keepAlive in [true, false] {
                let prebuilt = try #require(response.prebuilt(keepAlive: keepAlive))
                #expect(prebuilt.head == HTTPResponseHead(version: .http1_1, status: .unauthorized, headers: response.headers(keepAlive: keepAlive)))
                #expect(String(buffer: prebuilt.body) == response.body)
            }
        }
        #expect(slots == Set(TokenRejectionReason.allCases.indices))
        #expect(TokenRejectionReason.allCases.map(\.ordinal) == Array(TokenRejectionReason.allCases.indices))
        #expect(LocalResponse.gate(.forbidden).prebuilt(keepAlive: true) == nil)
        #expect(LocalResponse.badRequest.prebuilt(keepAlive: false) == nil)
    }
}
