import NIOConcurrencyHelpers
import NIOHTTP1

/// A JWKS issuer for tests: serves whatever key set it currently holds at
/// `/.well-known/jwks.json`, can be switched to failing, and counts fetches.
public final class JWKSServer: Sendable {
    private struct State {
        var jwks: String
        var failing = false
        var cacheControl: String?
        var fetches = 0
    }

    private let state: NIOLockedValueBox<State>
    public let server: TestHTTPServer

    public static func start(jwks: String) async throws -> JWKSServer {
        let state = NIOLockedValueBox(State(jwks: jwks))
        let server = try await TestHTTPServer.start { request in
            state.withLockedValue { s -> TestResponse in
                guard request.path == "/.well-known/jwks.json" else { return .fixed(status: .notFound, body: "") }
                s.fetches += 1
                if s.failing { return .fixed(status: .internalServerError, body: "down") }
                var headers = [("Content-Type", "application/json")]
                if let cc = s.cacheControl { headers.append(("Cache-Control", cc)) }
                return .fixed(headers: headers, body: s.jwks)
            }
        }
        return JWKSServer(state: state, server: server)
    }

    private init(state: NIOLockedValueBox<State>, server: TestHTTPServer) {
        self.state = state
        self.server = server
    }

    public var url: String { server.url + "/.well-known/jwks.json" }
    public var fetchCount: Int { state.withLockedValue { $0.fetches } }

    public func publish(_ jwks: String) { state.withLockedValue { $0.jwks = jwks } }
    public func setFailing(_ failing: Bool) { state.withLockedValue { $0.failing = failing } }
    public func setCacheControl(_ value: String?) { state.withLockedValue { $0.cacheControl = value } }

    public func stop() async { await server.stop() }
}
