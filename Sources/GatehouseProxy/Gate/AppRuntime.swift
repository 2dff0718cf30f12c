import GatehouseAuth
import GatehouseCore
import GatehouseUsers
import NIOHTTP1

/// Everything the request path needs about one app, built once at start from the
/// configuration snapshot and shared read-only by every event loop.
public final class AppRuntime: Sendable {
    public let config: AppConfiguration
    /// Position in ``ProxyRuntime/apps``; indexes per-loop caches and pools.
    public let index: Int
    /// Where the app's counters are in every loop's ``LoopMetrics``: stable per app id.
    let metricSlot: Int
    let appEndpoint: UpstreamEndpoint
    let apiEndpoint: UpstreamEndpoint
    /// The SDK tags injected into the app's HTML, built once.
    let injectionSnippet: InjectionSnippet
    /// The API route's owner key, `Host`, `extra_headers` and identity fields, built once.
    let apiRewrite: UpstreamRequestBuilder.APIRewrite
    let verifier: TokenVerifier
    let clockSkew: Double
    let apiKeys: APIKeyTable
    /// `nil` when the app has no way to verify JWTs (`auth.mode: none` without keys).
    public let keySource: KeySource?
    let policy: AccessPolicy
    public let devIssuer: DevIssuer?
    /// `quotas`; unlimited unless configured.
    let quota: QuotaGuard
    /// The app's user list (`/_auth/me`, `/_auth/users`, users seen by the gate); `nil`
    /// when no store is configured (then nobody is recorded and listing answers 503).
    public let users: AppUsers?
    /// The owner key, kept only as its hash: `/_auth/users` compares it in constant time.
    let ownerKeyTable: APIKeyTable

    /// - Parameters:
    ///   - appEndpoint, apiEndpoint: the replaced runtime's, when a reload left them
    ///     unchanged (their pooled connections stay in use); built from `config` if `nil`.
    public init(
        config: AppConfiguration, index: Int, keySource: KeySource?, devIssuer: DevIssuer?, quota: QuotaGuard? = nil, users: AppUsers? = nil,
        appEndpoint: UpstreamEndpoint? = nil, apiEndpoint: UpstreamEndpoint? = nil
    ) throws {
        self.config = config
        self.index = index
        self.metricSlot = MetricSlots.slot(for: config.id)
        self.appEndpoint = try appEndpoint ?? UpstreamEndpoint(url: config.upstream)
        self.apiEndpoint = try apiEndpoint ?? UpstreamEndpoint(url: config.api.upstream, caFile: config.api.caFile)
        self.injectionSnippet = InjectionSnippet(app: config)
        self.apiRewrite = UpstreamRequestBuilder.APIRewrite(app: config)
        let auth = config.auth
        var policy = TokenVerificationPolicy(
            issuer: auth.issuer,
            audience: auth.audience,
            authorizedParties: auth.authorizedParties,
            clockSkew: Double(auth.clockSkewS),
            rejectPendingSessions: auth.mode == .clerk
        )
        if auth.mode == .dev {
            // SPEC "Dev mode": dev tokens are checked against the dev key, `iss: gatehouse-dev`
            // and `aud` = the app id, whatever issuer/audience/authorized_parties say.
            policy.issuer = DevIssuer.issuer
            policy.audience = [config.id]
            policy.authorizedParties = nil
        }
        self.verifier = TokenVerifier(policy: policy)
        self.clockSkew = Double(auth.clockSkewS)
        self.apiKeys = APIKeyTable(entries: auth.apiKeys.map { (name: $0.name, sha256Hex: $0.sha256, admin: $0.admin) })
        self.keySource = keySource
        self.policy = AccessPolicy(config.policy)
        self.devIssuer = devIssuer
        self.quota = quota ?? QuotaGuard(config.quotas, month: nil)
        self.users = users
        self.ownerKeyTable = APIKeyTable(entries: [(name: "owner", sha256Hex: APIKeyHash.hex(Array(config.api.ownerKey.value.utf8)), admin: true)])
    }
}

/// All apps, and the `Host` → app table. Immutable, shared by every event loop.
public final class ProxyRuntime: Sendable {
    public let apps: [AppRuntime]
    private let byHost: [String: Int]
    private let defaultApp: Int?

    public init(apps: [AppRuntime]) {
        self.apps = apps
        var byHost: [String: Int] = [:]
        var defaultApp: Int?
        for app in apps {
            if app.config.hosts.isEmpty { defaultApp = app.index }
            for host in app.config.hosts { byHost[host.lowercased()] = app.index }
        }
        self.byHost = byHost
        self.defaultApp = defaultApp
    }

    /// The app for a `Host` header value (port ignored, case-insensitive), else the default app.
    public func app(forHost host: String?) -> AppRuntime? {
        if let host, !byHost.isEmpty, let index = index(forHost: host) { return apps[index] }
        return defaultApp.map { apps[$0] }
    }

    /// Over the value's bytes: the name before a port (an IPv6 literal's brackets kept),
    /// looked up as it is when it has no upper-case letter (what browsers send), else with
    /// ASCII lowercased; a name with non-ASCII bytes is lowercased as text, as the table's
    /// names were. Through `Substring` and `Character` (the port found by a grapheme walk
    /// from the end) it was ~3,000 instructions of every request to an app with `hosts`.
    private func index(forHost host: String) -> Int? {
        host.withUTF8Bytes { bytes -> Int? in
            var end = bytes.count
            if bytes.first == UInt8(ascii: "[") {
                if let close = bytes.firstIndex(of: UInt8(ascii: "]")) { end = close + 1 }
            } else if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
                end = colon
            }
            let name = UnsafeBufferPointer(rebasing: bytes[..<end])
            if name.contains(where: { $0 >= 0x80 }) { return byHost[String(decoding: name, as: UTF8.self).lowercased()] }
            if end == bytes.count, !name.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) { return byHost[host] }
            let lowercased = String(unsafeUninitializedCapacity: end) { out in
                for i in 0..<end {
                    let byte = name[i]
                    out[i] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
                }
                return end
            }
            return byHost[lowercased]
        }
    }
}
