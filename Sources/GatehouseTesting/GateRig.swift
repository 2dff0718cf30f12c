import Foundation
import GatehouseApp
import GatehouseAuth
import GatehouseCore
import Logging
import NIOConcurrencyHelpers
import NIOHTTP1

/// A whole gate setup for live tests: a JWKS issuer, an app and an API upstream (both
/// recording) and a Gatehouse in `jwt` mode in front of them, all real NIO servers on
/// 127.0.0.1 with free ports. Every test that starts one calls ``stop()``.
public struct GateRig: Sendable {
    public static let issuer = "https://issuer.test"
    public static let audience = "api"

    public let gatehouse: TestGatehouse
    public let app: TestHTTPServer
    public let api: TestHTTPServer
    public let jwks: JWKSServer
    public let key: TestKey

    /// Starts the rig. `auth` and `configure` (the trailing closure) adjust the
    /// configuration before start;
    /// `waitForKeys` polls (bounded) until the first JWKS fetch landed.
    public static func start(
        key: TestKey? = nil,
        jwksKeys: [TestKey]? = nil,
        apiResponder: (@Sendable (RecordedRequest) -> TestResponse)? = nil,
        logger: Logger? = nil,
        waitForKeys: Bool = true,
        jwksFailing: Bool = false,
        auth configureAuth: (inout AuthConfiguration) -> Void = { _ in },
        _ configure: (inout GatehouseConfiguration) -> Void
    ) async throws -> GateRig {
        let key = try key ?? TestKey.shared(.rsa2048)
        let jwks = try await JWKSServer.start(jwks: String(decoding: TokenFactory.jwksJSON(keys: jwksKeys ?? [key]), as: UTF8.self))
        jwks.setFailing(jwksFailing)
        let app = try await TestHTTPServer.start { r in .fixed(headers: [("Content-Type", "text/plain")], body: "app " + r.path) }
        let api = try await TestHTTPServer.start(responder: apiResponder ?? { r in
            .fixed(headers: [("Content-Type", "application/json")], body: #"{"api":"\#(r.path)"}"#)
        })
        var auth = AuthConfiguration()
        auth.mode = .jwt
        auth.jwksURL = jwks.url
        auth.issuer = issuer
        auth.audience = [audience]
        configureAuth(&auth)
        let config = TestGatehouse.configuration(appUpstream: app.url, apiUpstream: api.url, auth: auth, configure: configure)
        let gatehouse: TestGatehouse
        do {
            gatehouse = try await TestGatehouse.start(config, logger: logger)
        } catch {
            await app.stop()
            await api.stop()
            await jwks.stop()
            throw error
        }
        let rig = GateRig(gatehouse: gatehouse, app: app, api: api, jwks: jwks, key: key)
        if waitForKeys { _ = try await rig.waitUntil { rig.gatehouse.instance.isReady } }
        return rig
    }

    /// ``start(key:jwksKeys:apiResponder:logger:waitForKeys:jwksFailing:auth:_:)`` with the
    /// configuration left as it is. (Two overloads so that a trailing closure always means
    /// `configure`, never `apiResponder` or `auth`.)
    public static func start(
        key: TestKey? = nil,
        jwksKeys: [TestKey]? = nil,
        apiResponder: (@Sendable (RecordedRequest) -> TestResponse)? = nil,
        logger: Logger? = nil,
        waitForKeys: Bool = true,
        jwksFailing: Bool = false,
        auth configureAuth: (inout AuthConfiguration) -> Void = { _ in }
    ) async throws -> GateRig {
        try await start(
            key: key, jwksKeys: jwksKeys, apiResponder: apiResponder, logger: logger, waitForKeys: waitForKeys,
            jwksFailing: jwksFailing, auth: configureAuth, { _ in })
    }

    public func stop() async {
        await gatehouse.stop()
        await app.stop()
        await api.stop()
        await jwks.stop()
    }

    /// A token signed by `key` (the rig's by default) with the rig's issuer and audience.
    public func token(
        key: TestKey? = nil, sub: String = "user_live", ttl: Double = 120, now: Double = Date().timeIntervalSince1970,
        iss: String? = GateRig.issuer, aud: JSONValue? = .string(GateRig.audience), azp: String? = nil,
        extra: [String: JSONValue] = [:]
    ) -> String {
        TokenFactory.token(key: key ?? self.key, claims: TokenFactory.claims(
            sub: sub, now: now, ttl: ttl, iss: iss, aud: aud, azp: azp, extra: extra))
    }

    /// Polls `condition` every 20 ms until it holds; throws after `timeout` (a safety net
    /// against a hung test, never a timing assertion).
    @discardableResult
    public func waitUntil(timeout: Duration = GateRig.pollTimeout, _ condition: @Sendable () async -> Bool) async throws -> Bool {
        try await GateRig.poll(timeout: timeout, condition)
    }

    /// How long a poll waits before calling a test hung. Generous on purpose: the full
    /// suite runs ~540 tests at once on a cooperative pool as wide as the machine has
    /// cores (two here), and a task that is ready can wait its turn for well over 15
    /// seconds — the process under test answered at once while the test's own load and
    /// poll sat queued (`SighupProcessTests` failed so on a slow host, 7 runs in 10, with
    /// 15 s). A wait that ends early costs nothing; only a real hang waits this long.
    public static let pollTimeout: Duration = .seconds(60)

    @discardableResult
    public static func poll(timeout: Duration = GateRig.pollTimeout, _ condition: @Sendable () async -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Once more: a task that waited past the deadline for a thread sees the state now.
        if await condition() { return true }
        throw RawConnectionError(description: "condition not met in time")
    }

    /// `GET path` on the admin listener.
    public func admin(_ path: String) async throws -> TestHTTPResponse {
        try await gatehouse.adminRequest(path)
    }
}

extension TestGatehouse {
    /// Starts Gatehouse with `logger` (e.g. one over a ``LogCapture``); `nil` logs nothing.
    public static func start(
        _ configuration: GatehouseConfiguration, logger: Logger?, clock: @escaping @Sendable () -> Double = SystemClock.now
    ) async throws -> TestGatehouse {
        guard let logger else { return try await start(configuration, clock: clock) }
        _ = openFilesRaised
        let instance = try await GatehouseInstance.start(configuration: configuration, logger: logger, clock: clock)
        return TestGatehouse(instance: instance, configuration: configuration)
    }

    /// `GET path` on the admin listener, on a fresh connection.
    public func adminRequest(_ path: String) async throws -> TestHTTPResponse {
        let connection = try await RawConnection.connect(port: adminPort)
        do {
            try await connection.send("GET \(path) HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
            let response = try await connection.readResponse()
            await connection.close()
            return response
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Sends `bytes` exactly as given on a fresh connection; returns the connection for reading.
    public func raw(_ text: String) async throws -> RawConnection {
        let connection = try await RawConnection.connect(port: port)
        do {
            try await connection.send(text)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }
}

/// Every log line a ``Logger`` made through it, kept in memory for assertions
/// (e.g. that no secret is ever logged). Thread-safe.
public final class LogCapture: Sendable {
    private let lines = NIOLockedValueBoxLines()

    public init() {}

    /// A logger at `trace` level writing into this capture.
    public func logger(label: String = "gatehouse-test") -> Logger {
        var logger = Logger(label: label) { label in CaptureHandler(capture: self, label: label) }
        logger.logLevel = .trace
        return logger
    }

    public var text: String { lines.all.joined(separator: "\n") }
    public var count: Int { lines.all.count }

    fileprivate func append(_ line: String) { lines.append(line) }

    fileprivate struct CaptureHandler: LogHandler {
        let capture: LogCapture
        let label: String
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { _, new in new } }
            let error = event.error.map { " error=\($0)" } ?? ""
            let meta = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append("\(event.level) \(label): \(event.message) \(meta)\(error) [\(event.source) \(event.file):\(event.line)]")
        }
    }
}

final class NIOLockedValueBoxLines: Sendable {
    private let box = NIOLockedValueBox<[String]>([])
    func append(_ line: String) { box.withLockedValue { $0.append(line) } }
    var all: [String] { box.withLockedValue { $0 } }
}

/// A clock a test moves by hand (seconds since 1970), for `TestGatehouse.start(clock:)`.
public final class TestClock: Sendable {
    private let box: NIOLockedValueBox<Double>

    public init(_ start: Double = Date().timeIntervalSince1970) { box = NIOLockedValueBox(start) }

    public var now: Double { box.withLockedValue { $0 } }
    public func advance(_ seconds: Double) { box.withLockedValue { $0 += seconds } }
}
