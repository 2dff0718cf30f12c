/// One app behind Gatehouse: its upstreams, how its users authenticate, and who pays.
public struct AppConfiguration: Sendable, Equatable {
    /// Stable id, sent as `X-Gatehouse-App` and written in meter records.
    public var id: String
    /// Organization billed for the app's API calls; also a meter directory name.
    public var org: String
    /// `Host` values that select this app; empty for the default app.
    public var hosts: [String]
    /// The app itself: HTML, assets, anything outside the API prefix.
    public var upstream: UpstreamURL
    public var api: APIConfiguration
    public var auth: AuthConfiguration
    public var policy: PolicyConfiguration
    public var quotas: QuotasConfiguration
    public var inject: InjectConfiguration

    public init(
        id: String,
        org: String,
        hosts: [String] = [],
        upstream: UpstreamURL,
        api: APIConfiguration,
        auth: AuthConfiguration = .init(),
        policy: PolicyConfiguration = .init(),
        quotas: QuotasConfiguration = .init(),
        inject: InjectConfiguration = .init()
    ) {
        self.id = id
        self.org = org
        self.hosts = hosts
        self.upstream = upstream
        self.api = api
        self.auth = auth
        self.policy = policy
        self.quotas = quotas
        self.inject = inject
    }
}

/// The gated API route of an app (`apps[].api`).
public struct APIConfiguration: Sendable, Equatable {
    /// Where accepted `/_api` requests go.
    public var upstream: UpstreamURL
    /// The gated path prefix; always starts with `/` and has no trailing `/`.
    public var prefix: String = "/_api"
    /// Whether `prefix` is removed before forwarding (`/_api/v1/x` → `/v1/x`).
    public var stripPrefix: Bool = true
    /// Static headers added to every API request (e.g. `X-Namespace`).
    public var extraHeaders: [HeaderField] = []
    /// The owner's API key, sent as `Authorization: Bearer <owner_key>`. Secret.
    public var ownerKey: Secret
    /// PEM file of extra CA certificates trusted for an `https` API upstream.
    public var caFile: String?

    public init(upstream: UpstreamURL, prefix: String = "/_api", stripPrefix: Bool = true,
                extraHeaders: [HeaderField] = [], ownerKey: Secret, caFile: String? = nil) {
        self.upstream = upstream
        self.prefix = prefix
        self.stripPrefix = stripPrefix
        self.extraHeaders = extraHeaders
        self.ownerKey = ownerKey
        self.caFile = caFile
    }
}

/// A header name and value, in configuration order.
public struct HeaderField: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// How an app's end users and services prove who they are (`apps[].auth`).
public struct AuthConfiguration: Sendable, Equatable {
    /// Which issuer the app trusts.
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        case clerk, jwt, dev, none
    }
    public var mode: Mode = .jwt
    /// Clerk publishable key; the frontend API host and JWKS URL derive from it.
    public var publishableKey: String?
    /// Clerk secret key for Backend API profile look-ups. Secret.
    public var secretKey: Secret?
    /// Where the issuer publishes its keys.
    public var jwksURL: String?
    /// Ed25519 PKCS#8 PEM file of the dev issuer; unset: a fresh key per start.
    public var devKeyFile: String?
    /// A PEM public key that verifies tokens with no network at all.
    public var jwtKey: String?
    /// Required `iss`, compared exactly.
    public var issuer: String?
    /// Accepted `aud` values; a token must name at least one.
    public var audience: [String]?
    /// Accepted `azp` values; when set, `azp` is required.
    public var authorizedParties: [String]?
    /// Tolerance for `exp`, `nbf` and `iat`, in seconds.
    public var clockSkewS: Int = 5
    /// Sign-in providers the SDK offers (`clerk_allowed_providers`).
    public var allowedProviders: [String] = []
    /// Server-to-server shared secrets, stored as sha256.
    public var apiKeys: [APIKeyConfiguration] = []
    /// Override of the clerk-js script URL (self-hosting, tests).
    public var clerkJSURL: String?
    /// Base URL of Clerk's Backend API (tests point it at a stand-in).
    public var clerkAPIURL: String = "https://api.clerk.com"

    public init() {}
}

/// One server-to-server key (`auth.api_keys[]`): only its hash is kept.
public struct APIKeyConfiguration: Sendable, Equatable {
    /// Identity `service:<name>`.
    public var name: String
    /// Lowercase hex sha256 of the key (64 characters).
    public var sha256: String
    /// May read `/_auth/users`.
    public var admin: Bool

    public init(name: String, sha256: String, admin: Bool = false) {
        self.name = name
        self.sha256 = sha256
        self.admin = admin
    }
}

/// Who among authenticated users may call the API (`apps[].policy`).
public struct PolicyConfiguration: Sendable, Equatable {
    public var allowEmails: [String] = []
    public var allowEmailDomains: [String] = []
    /// Claims that must be present with exactly these string values.
    public var requireClaims: [String: String] = [:]

    public init() {}
}

/// Limits that protect the owner's bill (`apps[].quotas`); 0 means unlimited.
public struct QuotasConfiguration: Sendable, Equatable {
    public var userRequestsPerMinute: Int = 0
    public var orgRequestsPerMonth: Int = 0

    public init() {}
}

/// HTML injection of the SDK (`apps[].inject`).
public struct InjectConfiguration: Sendable, Equatable {
    public var enabled: Bool = true

    public init() {}
}
