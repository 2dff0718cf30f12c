/// The whole effective configuration of one Gatehouse process: one immutable snapshot.
///
/// Built once by ``ConfigurationLoader`` from the YAML file, the environment and
/// command-line flags (flags > environment > file), validated, then shared read-only
/// by every event loop. Field names follow SPEC "Configuration".
public struct GatehouseConfiguration: Sendable, Equatable {
    /// Address the proxy listens on (`listen`).
    public var listen: ListenAddress
    /// Address of the admin listener with `/healthz`, `/readyz`, `/metrics` (`admin_listen`).
    public var adminListen: ListenAddress
    /// Number of event loops; `nil` means one per core (`event_loops: auto`).
    public var eventLoops: Int?
    /// Peers whose `X-Forwarded-*` and `X-Request-Id` headers are trusted (`trusted_proxies`).
    public var trustedProxies: [CIDRRange]
    /// Size limits and timeouts (`limits`).
    public var limits: LimitsConfiguration
    /// Billing log settings (`metering`).
    public var metering: MeteringConfiguration
    /// Where the per-app user list lives (`users`).
    public var users: UsersConfiguration
    /// The apps served; at most one has no `hosts` (the default app).
    public var apps: [AppConfiguration]
    /// Lets dev mode run on a non-loopback listen address (`--allow-dev-on-network`).
    public var allowDevOnNetwork: Bool
    /// How long a SIGTERM drain waits for in-flight requests before closing them.
    public var drainTimeoutMs: Int
    /// One structured log line per request (`access_log`); off by default.
    public var accessLog: AccessLogConfiguration = .init()

    public init(
        listen: ListenAddress = .init(host: "0.0.0.0", port: 8080),
        adminListen: ListenAddress = .init(host: "127.0.0.1", port: 9090),
        eventLoops: Int? = nil,
        trustedProxies: [CIDRRange] = [],
        limits: LimitsConfiguration = .init(),
        metering: MeteringConfiguration = .init(),
        users: UsersConfiguration = .init(),
        apps: [AppConfiguration] = [],
        allowDevOnNetwork: Bool = false,
        drainTimeoutMs: Int = 30_000
    ) {
        self.listen = listen
        self.adminListen = adminListen
        self.eventLoops = eventLoops
        self.trustedProxies = trustedProxies
        self.limits = limits
        self.metering = metering
        self.users = users
        self.apps = apps
        self.allowDevOnNetwork = allowDevOnNetwork
        self.drainTimeoutMs = drainTimeoutMs
    }
}

/// Request size limits and timeouts (`limits`), all enforced per connection.
public struct LimitsConfiguration: Sendable, Equatable {
    /// A request head larger than this gets 431 and the connection closed.
    public var maxHeaderBytes: Int = 32_768
    /// An `/_api` request body larger than this gets 413 and the connection closed.
    public var maxAPIBodyBytes: Int = 10_485_760
    /// A client that has not sent a complete head within this gets 408.
    public var clientHeaderTimeoutMs: Int = 10_000
    /// Bound on opening an upstream connection (and on a JWKS refetch a request waits for).
    public var upstreamConnectTimeoutMs: Int = 2_000
    /// Bound on waiting for the upstream's response head; past it the client gets 504.
    public var upstreamResponseTimeoutMs: Int = 60_000
    /// Keep-alive connections idle this long are closed, on both sides.
    public var idleTimeoutMs: Int = 75_000

    public init() {}
}

/// Where and how billing records are written (`metering`).
public struct MeteringConfiguration: Sendable, Equatable {
    /// When the writer syncs files to disk.
    public enum Fsync: String, Sendable, Equatable, CaseIterable {
        case always, interval, never
    }
    /// Root directory of the per-org JSON Lines logs.
    public var dir: String = "./meter"
    public var fsync: Fsync = .interval
    /// Upper bound on how long a record waits before it is written.
    public var flushIntervalMs: Int = 200
    /// File name suffix; empty means the host name.
    public var instance: String = ""
    /// Records the writer may hold unwritten before `/_api` calls get 503
    /// `metering_unavailable`. Not read from YAML: a knob for tests.
    public var queueHighWatermark: Int = 100_000

    public init() {}
}

/// The user store (`users.store`): `sqlite:PATH` or a `postgres://` URL.
public struct UsersConfiguration: Sendable, Equatable {
    public var store: String = "sqlite:./gatehouse.db"

    public init() {}
}

/// The access log (`access_log`): one swift-log line per request, without secrets.
public struct AccessLogConfiguration: Sendable, Equatable {
    public var enabled: Bool = false
    /// Share of requests logged, 1–100 (a busy proxy logs a sample).
    public var samplePercent: Int = 100

    public init() {}
}
