import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// The request path's method tests (``HTTPMethod/isHEAD`` …) answer exactly as
/// NIOHTTP1's `==` does, `.RAW` spellings included.
@Suite struct HTTPMethodMatchingTests {
    @Test func matchingAnswersAsEqualityDoes() {
        let methods: [HTTPMethod] = [
            .GET, .HEAD, .POST, .PUT, .DELETE, .CONNECT, .OPTIONS, .TRACE, .PATCH, .PURGE,
            .RAW(value: "GET"), .RAW(value: "HEAD"), .RAW(value: "CONNECT"), .RAW(value: "TRACE"),
            .RAW(value: "head"), .RAW(value: "GETS"), .RAW(value: "QUERY"), .RAW(value: ""),
        ]
        for method in methods {
            #expect(method.isHEAD == (method == .HEAD), "\(method)")
            #expect(method.isGET == (method == .GET), "\(method)")
            #expect(method.isCONNECT == (method == .CONNECT), "\(method)")
            #expect(method.isTRACE == (method == .TRACE), "\(method)")
        }
        #expect(methods.filter(\.isHEAD).count == 2)
    }
}
