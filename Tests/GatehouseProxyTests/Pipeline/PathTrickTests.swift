import Foundation
import GatehouseTesting
import Testing

/// Paths that try to reach `/_api` around the gate, or the app around normalisation
/// (SPEC "Routing"). Each is 400, or the gate's 401, or the APP upstream with the
/// normalised path — never the API upstream without a token; with a token, the API
/// upstream receives the normalised path.
@Suite struct PathTrickTests {
    enum Outcome: Sendable, Equatable, CustomStringConvertible {
        case badRequest
        /// Gated; with a token the API upstream receives this path (prefix stripped).
        case gated(apiPath: String)
        /// The app upstream receives this path.
        case app(String)

        var description: String {
            switch self {
            case .badRequest: return "400"
            case .gated(let p): return "gate → api \(p)"
            case .app(let p): return "app \(p)"
            }
        }
    }

    struct Trick: Sendable, CustomTestStringConvertible {
        let target: String
        let outcome: Outcome
        var testDescription: String { "\(target) → \(outcome)" }
    }

    static let tricks: [Trick] = [
        Trick(target: "/_api/../x", outcome: .app("/x")),
        Trick(target: "/_api/x/../../y", outcome: .app("/y")),
        Trick(target: "/%5F_api/x", outcome: .app("/__api/x")),
        Trick(target: "/%5f%61pi/x", outcome: .gated(apiPath: "/x")),
        Trick(target: "/%5F%41%50%49/x", outcome: .app("/_API/x")),
        Trick(target: "//_api/x", outcome: .gated(apiPath: "/x")),
        Trick(target: "///_api//x//y", outcome: .gated(apiPath: "/x/y")),
        Trick(target: "/_api%2fx", outcome: .badRequest),
        Trick(target: "/_api%2Fx", outcome: .badRequest),
        Trick(target: "/_api%5cx", outcome: .badRequest),
        Trick(target: "/_api/%2e%2e/x", outcome: .app("/x")),
        Trick(target: "/_api/%2E%2E/%2e%2e/x", outcome: .badRequest),
        Trick(target: "/_api/./x", outcome: .gated(apiPath: "/x")),
        Trick(target: "/_api/%2e/x", outcome: .gated(apiPath: "/x")),
        Trick(target: "/_api\\x", outcome: .badRequest),
        Trick(target: "/_api/%00", outcome: .badRequest),
        Trick(target: "/_api/x%00.json", outcome: .badRequest),
        Trick(target: "/./_api/x", outcome: .gated(apiPath: "/x")),
        Trick(target: "/x/../_api/y", outcome: .gated(apiPath: "/y")),
        Trick(target: "/_API/x", outcome: .app("/_API/x")),
        Trick(target: "/_apix", outcome: .app("/_apix")),
        Trick(target: "/_api", outcome: .gated(apiPath: "/")),
        Trick(target: "/_api/", outcome: .gated(apiPath: "/")),
        Trick(target: "/_api/x/.", outcome: .gated(apiPath: "/x/")),
        Trick(target: "/_api?x=/../y", outcome: .gated(apiPath: "/")),
        Trick(target: "/../_api/x", outcome: .badRequest),
        Trick(target: "/%2e%2e/_api/x", outcome: .badRequest),
        Trick(target: "/_api/%zz", outcome: .badRequest),
        Trick(target: "http://gatehouse.test/_api/x", outcome: .badRequest),
        Trick(target: "http://gatehouse.test/x", outcome: .badRequest),
        Trick(target: "_api/x", outcome: .badRequest),
        Trick(target: "*", outcome: .badRequest),
    ]

    @Test(arguments: tricks)
    func pathTrickWithoutToken(_ trick: Trick) async throws {
        let rig = try await GateRig.start()
        let connection = try await rig.gatehouse.raw("GET \(trick.target) HTTP/1.1\r\nHost: g.test\r\n\r\n")
        let response = try await connection.readResponse()
        switch trick.outcome {
        case .badRequest:
            #expect(response.status == 400)
            #expect(await connection.waitForClose())
            #expect(rig.app.requests.isEmpty)
        case .gated:
            Gate.expectMissing(response)
            #expect(rig.app.requests.isEmpty)
        case .app(let path):
            #expect(response.status == 200)
            #expect(rig.app.requests.map(\.path) == [path])
        }
        await connection.close()
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }

    @Test(arguments: tricks)
    func pathTrickWithToken(_ trick: Trick) async throws {
        let rig = try await GateRig.start()
        let connection = try await rig.gatehouse.raw(
            "GET \(trick.target) HTTP/1.1\r\nHost: g.test\r\nAuthorization: Bearer \(rig.token())\r\n\r\n")
        let response = try await connection.readResponse()
        switch trick.outcome {
        case .badRequest:
            #expect(response.status == 400)
            #expect(rig.api.requests.isEmpty)
            #expect(rig.app.requests.isEmpty)
        case .gated(let apiPath):
            #expect(response.status == 200)
            #expect(rig.api.requests.map(\.path) == [apiPath])
            #expect(rig.app.requests.isEmpty)
        case .app(let path):
            #expect(response.status == 200)
            #expect(rig.app.requests.map(\.path) == [path])
            #expect(rig.api.requests.isEmpty)
        }
        await connection.close()
        await rig.stop()
    }

    @Test func queryIsPassedThroughUntouched() async throws {
        let rig = try await GateRig.start()
        let response = try await rig.gatehouse.request("GET", "/_api/./v1/%7Eitems?q=%2F..%2F&x=1", headers: Gate.bearer(rig.token()))
        #expect(response.status == 200)
        #expect(rig.api.requests.first?.uri == "/v1/~items?q=%2F..%2F&x=1")
        await rig.stop()
    }
}
