import Yams

/// Renders the effective configuration as YAML for `gatehouse check`, in the file's own
/// shape, with every secret (owner keys, Clerk secret keys, database passwords) as `***`.
///
/// Api key sha256 values are not secrets and are shown. The output is valid YAML that
/// ``ConfigurationLoader`` reads back (with the masked secrets as their literal `***`).
public enum ConfigurationPrinter {
    static let mask = "***"

    public static func yaml(_ config: GatehouseConfiguration) -> String {
        let root = map([
            ("listen", string(config.listen.description)),
            ("admin_listen", string(config.adminListen.description)),
            ("event_loops", config.eventLoops.map(int) ?? string("auto")),
            ("trusted_proxies", list(config.trustedProxies.map(\.description))),
            ("drain_timeout_ms", int(config.drainTimeoutMs)),
            ("limits", limits(config.limits)),
            ("metering", map([
                ("dir", string(config.metering.dir)),
                ("fsync", string(config.metering.fsync.rawValue)),
                ("flush_interval_ms", int(config.metering.flushIntervalMs)),
                ("instance", string(config.metering.instance)),
            ])),
            ("users", map([("store", string(maskingPassword(inStore: config.users.store)))])),
            ("access_log", map([
                ("enabled", bool(config.accessLog.enabled)),
                ("sample_percent", int(config.accessLog.samplePercent)),
            ])),
            ("apps", Node(config.apps.map(app))),
        ])
        do {
            return try Yams.serialize(node: root, width: -1, sortKeys: false)
        } catch {
            return "# the configuration could not be rendered as YAML\n"
        }
    }

    private static func limits(_ limits: LimitsConfiguration) -> Node {
        map([
            ("max_header_bytes", int(limits.maxHeaderBytes)),
            ("max_api_body_bytes", int(limits.maxAPIBodyBytes)),
            ("client_header_timeout_ms", int(limits.clientHeaderTimeoutMs)),
            ("upstream_connect_timeout_ms", int(limits.upstreamConnectTimeoutMs)),
            ("upstream_response_timeout_ms", int(limits.upstreamResponseTimeoutMs)),
            ("idle_timeout_ms", int(limits.idleTimeoutMs)),
        ])
    }

    private static func app(_ app: AppConfiguration) -> Node {
        map([
            ("id", string(app.id)),
            ("org", string(app.org)),
            ("hosts", list(app.hosts)),
            ("upstream", string(app.upstream.description)),
            ("api", map([
                ("upstream", string(app.api.upstream.description)),
                ("prefix", string(app.api.prefix)),
                ("strip_prefix", bool(app.api.stripPrefix)),
                ("extra_headers", map(app.api.extraHeaders.map { ($0.name, string($0.value)) })),
                ("owner_key", string(mask)),
                ("ca_file", app.api.caFile.map(string)),
            ])),
            ("auth", auth(app.auth)),
            ("policy", map([
                ("allow_emails", list(app.policy.allowEmails)),
                ("allow_email_domains", list(app.policy.allowEmailDomains)),
                ("require_claims", map(app.policy.requireClaims.sorted { $0.key < $1.key }.map { ($0.key, string($0.value)) })),
            ])),
            ("quotas", map([
                ("user_requests_per_minute", int(app.quotas.userRequestsPerMinute)),
                ("org_requests_per_month", int(app.quotas.orgRequestsPerMonth)),
            ])),
            ("inject", map([("enabled", bool(app.inject.enabled))])),
        ])
    }

    private static func auth(_ auth: AuthConfiguration) -> Node {
        map([
            ("mode", string(auth.mode.rawValue)),
            ("publishable_key", auth.publishableKey.map(string)),
            ("secret_key", auth.secretKey.map { _ in string(mask) }),
            ("jwks_url", auth.jwksURL.map(string)),
            ("dev_key_file", auth.devKeyFile.map(string)),
            ("jwt_key", auth.jwtKey.map(string)),
            ("issuer", auth.issuer.map(string)),
            ("audience", auth.audience.map(list)),
            ("authorized_parties", auth.authorizedParties.map(list)),
            ("clock_skew_s", int(auth.clockSkewS)),
            ("allowed_providers", list(auth.allowedProviders)),
            ("api_keys", Node(auth.apiKeys.map { key in
                map([("name", string(key.name)), ("sha256", string(key.sha256)), ("admin", bool(key.admin))])
            })),
            ("clerk_js_url", auth.clerkJSURL.map(string)),
            ("clerk_api_url", string(auth.clerkAPIURL)),
        ])
    }

    /// `postgres://user:pass@host/db` → `postgres://user:***@host/db`; a `password=`
    /// query parameter is masked too. `sqlite:` paths are shown as they are.
    static func maskingPassword(inStore store: String) -> String {
        guard let schemeEnd = store.range(of: "://") else { return store }
        let scheme = store[..<schemeEnd.upperBound]
        let rest = store[schemeEnd.upperBound...]
        var authority = String(rest.prefix { $0 != "/" && $0 != "?" })
        let tail = rest.dropFirst(authority.count)
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                authority = userInfo[...colon] + mask + authority[at...]
            }
        }
        return String(scheme) + authority + maskingPasswordParameter(in: tail)
    }

    private static func maskingPasswordParameter(in text: Substring) -> String {
        guard let question = text.firstIndex(of: "?") else { return String(text) }
        let parameters = text[text.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false)
        let masked = parameters.map { parameter -> String in
            parameter.lowercased().hasPrefix("password=") ? "password=" + mask : String(parameter)
        }
        return text[...question] + masked.joined(separator: "&")
    }

    // MARK: Node builders

    /// A mapping in the given order; `nil` values (unset optional fields) are left out.
    private static func map(_ pairs: [(String, Node?)]) -> Node {
        Node(pairs.compactMap { key, value in value.map { (Node(key), $0) } })
    }

    /// A string scalar, quoted when it would otherwise read back as a number, bool or null;
    /// a multi-line one (a PEM key) as a `|` block.
    private static func string(_ text: String) -> Node {
        if text.contains("\n"), !text.hasPrefix(" ") { return Node(text, Tag(.str), .literal) }
        return .scalar(text.represented())
    }

    private static func int(_ value: Int) -> Node { Node(String(value)) }

    private static func bool(_ value: Bool) -> Node { Node(value ? "true" : "false") }

    private static func list(_ items: [String]) -> Node {
        Node(items.map(string), .implicit, .flow)
    }
}
