/// Reads the top level of the YAML tree (SPEC "Configuration") into a ``GatehouseConfiguration``;
/// what a key leaves out keeps the type's default.
extension GatehouseConfiguration {
    static let yamlKeys = ConfigurationSchema.children(of: "")

    init(decoding root: ConfigurationNode, context: ConfigurationReader.Context) throws(ConfigurationError) {
        self.init()
        let top = try ConfigurationReader(root, path: "", allowed: Self.yamlKeys, context: context)
        if let listen = try top.parsed("listen", as: "host:port", ListenAddress.init(parsing:)) {
            self.listen = listen
        }
        if let admin = try top.parsed("admin_listen", as: "host:port", ListenAddress.init(parsing:)) {
            self.adminListen = admin
        }
        if let loops = try top.string("event_loops"), loops.trimmingSpaces() != "auto" {
            guard let count = Int(loops.trimmingSpaces()), count >= 1 else {
                throw top.invalid("event_loops", "expected auto or a positive integer")
            }
            self.eventLoops = count
        }
        if let ranges = try top.stringList("trusted_proxies") {
            trustedProxies = []
            for (index, text) in ranges.enumerated() {
                guard let range = CIDRRange(parsing: text.trimmingSpaces()) else {
                    throw ConfigurationError(.invalidValue, field: "\(top.field("trusted_proxies"))[\(index)]",
                                             message: "expected an IP address or CIDR range like 10.0.0.0/8")
                }
                trustedProxies.append(range)
            }
        }
        if let drain = try top.int("drain_timeout_ms", minimum: 1) { drainTimeoutMs = drain }
        limits = try LimitsConfiguration(decoding: top.mapping("limits", allowed: LimitsConfiguration.yamlKeys))
        metering = try MeteringConfiguration(decoding: top.mapping("metering", allowed: MeteringConfiguration.yamlKeys))
        users = try UsersConfiguration(decoding: top.mapping("users", allowed: UsersConfiguration.yamlKeys))
        let access = try top.mapping("access_log", allowed: ConfigurationSchema.children(of: "access_log"))
        if let enabled = try access.bool("enabled") { accessLog.enabled = enabled }
        if let percent = try access.int("sample_percent", minimum: 1) {
            guard percent <= 100 else { throw access.invalid("sample_percent", "expected 1 to 100") }
            accessLog.samplePercent = percent
        }
        let items = try top.sequence("apps") ?? []
        apps = []
        for item in items {
            apps.append(try AppConfiguration(decoding: item.node, path: item.path, isOnlyApp: items.count == 1, context: context))
        }
    }
}

extension LimitsConfiguration {
    static let yamlKeys = ConfigurationSchema.children(of: "limits")

    init(decoding reader: ConfigurationReader) throws(ConfigurationError) {
        self.init()
        if let v = try reader.int("max_header_bytes", minimum: 1) { maxHeaderBytes = v }
        if let v = try reader.int("max_api_body_bytes", minimum: 1) { maxAPIBodyBytes = v }
        if let v = try reader.int("client_header_timeout_ms", minimum: 1) { clientHeaderTimeoutMs = v }
        if let v = try reader.int("upstream_connect_timeout_ms", minimum: 1) { upstreamConnectTimeoutMs = v }
        if let v = try reader.int("upstream_response_timeout_ms", minimum: 1) { upstreamResponseTimeoutMs = v }
        if let v = try reader.int("idle_timeout_ms", minimum: 1) { idleTimeoutMs = v }
    }
}

extension MeteringConfiguration {
    static let yamlKeys = ConfigurationSchema.children(of: "metering")

    init(decoding reader: ConfigurationReader) throws(ConfigurationError) {
        self.init()
        if let dir = try reader.string("dir") {
            guard !dir.isEmpty else { throw reader.invalid("dir", "must name a directory") }
            self.dir = dir
        }
        self.dir = reader.resolvePath(self.dir)
        if let fsync = try reader.parsed("fsync", as: "always, interval or never", Fsync.init(rawValue:)) {
            self.fsync = fsync
        }
        if let v = try reader.int("flush_interval_ms", minimum: 1) { flushIntervalMs = v }
        if let instance = try reader.string("instance") {
            guard instance.isEmpty || ConfigurationRules.isSafeName(instance) else {
                throw reader.invalid("instance", "may hold only letters, digits, '.', '_' and '-'")
            }
            self.instance = instance
        }
    }
}

extension UsersConfiguration {
    static let yamlKeys = ConfigurationSchema.children(of: "users")

    init(decoding reader: ConfigurationReader) throws(ConfigurationError) {
        self.init()
        if let store = try reader.secret("store") { self.store = store }
        if store.hasPrefix("sqlite:") {
            let path = String(store.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw reader.invalid("store", "sqlite: needs a file path") }
            if path != ":memory:" { store = "sqlite:" + reader.resolvePath(path) }
        } else if !(store.hasPrefix("postgres://") || store.hasPrefix("postgresql://")) {
            throw reader.invalid("store", "expected sqlite:PATH or a postgres:// URL")
        }
    }
}
