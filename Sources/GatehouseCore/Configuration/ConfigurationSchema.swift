/// Every configuration key, once: the decoder's list of known keys per mapping comes from
/// here, and so does the README's configuration reference (`gatehouse config-reference`),
/// so the documentation cannot name a key the loader refuses or miss one it reads.
public enum ConfigurationSchema {
    /// One key of the YAML file.
    public struct Key: Sendable, Equatable {
        /// Dotted path; `[]` marks a list of mappings (`apps[].auth.mode`).
        public var path: String
        /// What the value is, as a reader would say it.
        public var type: String
        /// The default when absent ("—": required or none).
        public var defaultValue: String
        /// Whether a SIGHUP reload applies it; `false`: it keeps its value until a restart.
        public var reloadable: Bool
        public var summary: String

        init(_ path: String, _ type: String, _ defaultValue: String, reload: Bool = true, _ summary: String) {
            self.path = path
            self.type = type
            self.defaultValue = defaultValue
            self.reloadable = reload
            self.summary = summary
        }
    }

    public static let keys: [Key] = [
        Key("listen", "host:port", "0.0.0.0:8080", reload: false, "Proxy listener."),
        Key("admin_listen", "host:port", "127.0.0.1:9090", reload: false, "Admin listener: `/healthz`, `/readyz`, `/metrics`."),
        Key("event_loops", "integer or `auto`", "auto", reload: false, "Event loop threads; `auto` = one per core."),
        Key("trusted_proxies", "list of CIDR", "[]", "Peers whose `X-Forwarded-*` and `X-Request-Id` are kept (else replaced)."),
        Key("drain_timeout_ms", "integer ≥ 1", "30000", "How long SIGTERM waits for in-flight requests."),
        Key("limits.max_header_bytes", "integer", "32768", "Request head size; larger gets 431 (new connections)."),
        Key("limits.max_api_body_bytes", "integer", "10485760", "`/_api` body size; larger gets 413."),
        Key("limits.client_header_timeout_ms", "integer", "10000", "Time to send a request head; slower gets 408 (new connections)."),
        Key("limits.upstream_connect_timeout_ms", "integer", "2000", "Upstream connect timeout (502); also bounds a JWKS refetch."),
        Key("limits.upstream_response_timeout_ms", "integer", "60000", "Time to the upstream's response head (504); also how long it may go without taking request bytes it is sent (504) or sending more of a response it started (cut), like nginx's `proxy_send_timeout` and `proxy_read_timeout`."),
        Key("limits.idle_timeout_ms", "integer", "75000", reload: false, "Idle keep-alive connections, client and upstream side, close after this; so does a client that takes none of what it is sent, or sends none of a body it declared, for as long, and a WebSocket tunnel nothing crosses either way."),
        Key("metering.dir", "path", "./meter", reload: false, "Meter logs: `<dir>/<org>/<YYYY-MM-DD>.<instance>.jsonl`."),
        Key("metering.fsync", "`always`, `interval` or `never`", "interval", reload: false, "When batches are synced to disk."),
        Key("metering.flush_interval_ms", "integer", "200", reload: false, "Batch interval (and sync interval for `fsync: interval`)."),
        Key("metering.instance", "string", "— (host name)", reload: false, "Meter file suffix, unique per replica."),
        Key("users.store", "`sqlite:PATH`, `sqlite::memory:` or `postgres://…`", "sqlite:./gatehouse.db", reload: false, "Where each app's user list lives."),
        Key("users.store_file", "path", "—", reload: false, "File holding `users.store` (a URL with a password)."),
        Key("access_log.enabled", "boolean", "false", "One structured log line per request (no secrets)."),
        Key("access_log.sample_percent", "1–100", "100", "Share of requests logged."),
        Key("apps[].id", "string", "— (required)", "App id: `X-Gatehouse-App`, meter records, dev token audience."),
        Key("apps[].org", "string", "— (required)", "Org billed for the app's calls (`X-Gatehouse-Org`)."),
        Key("apps[].hosts", "list of host names", "[]", "`Host` values routed to this app; empty = the default app."),
        Key("apps[].upstream", "URL (`http`, `https`, `unix:`)", "— (required)", "The app: HTML, assets, everything not under the API prefix."),
        Key("apps[].api.upstream", "URL (`http`, `https`, `unix:`)", "— (required)", "The paid API behind the gate."),
        Key("apps[].api.prefix", "path", "/_api", "The gated path prefix."),
        Key("apps[].api.strip_prefix", "boolean", "true", "`/_api/v1/x` is sent as `/v1/x`."),
        Key("apps[].api.extra_headers", "mapping", "{}", "Static headers for the API upstream (not the framing ones: Content-Length, Transfer-Encoding)."),
        Key("apps[].api.owner_key", "secret", "— (required)", "Sent upstream as `Authorization: Bearer <owner_key>`; never logged."),
        Key("apps[].api.owner_key_file", "path", "—", "File holding `owner_key` (Docker/Kubernetes secrets)."),
        Key("apps[].api.ca_file", "path", "—", "PEM CA bundle for an `https` API upstream (default: system roots)."),
        Key("apps[].auth.mode", "`clerk`, `jwt`, `dev` or `none`", "jwt", "Who issues the app's tokens (`CLERK_PUBLISHABLE_KEY` in the environment implies `clerk`)."),
        Key("apps[].auth.publishable_key", "string", "—", "clerk: frontend API host, issuer and JWKS URL derive from it."),
        Key("apps[].auth.publishable_key_file", "path", "—", "File holding `publishable_key`."),
        Key("apps[].auth.secret_key", "secret", "—", "clerk: Backend API key for user profile look-ups."),
        Key("apps[].auth.secret_key_file", "path", "—", "File holding `secret_key`."),
        Key("apps[].auth.jwks_url", "URL", "— (clerk: derived)", "JWKS to verify tokens with."),
        Key("apps[].auth.jwt_key", "PEM public key", "—", "Verify with this key, no network at all."),
        Key("apps[].auth.jwt_key_file", "path", "—", "File holding `jwt_key`."),
        Key("apps[].auth.dev_key_file", "path (Ed25519 PKCS#8 PEM)", "— (fresh key per start)", "dev: the issuer's signing key."),
        Key("apps[].auth.issuer", "string", "— (clerk: derived)", "Required `iss`."),
        Key("apps[].auth.audience", "list of strings", "[]", "Accepted `aud` values (one must match); empty: not checked."),
        Key("apps[].auth.authorized_parties", "list of origins", "[]", "Accepted `azp` values; empty: not checked."),
        Key("apps[].auth.clock_skew_s", "integer", "5", "Leeway for `exp`/`nbf`/`iat`."),
        Key("apps[].auth.allowed_providers", "list of strings", "[]", "Sign-in providers the SDK offers (alias `clerk_allowed_providers`)."),
        Key("apps[].auth.clerk_allowed_providers", "list of strings", "[]", "Alias of `allowed_providers`."),
        Key("apps[].auth.clerk_js_url", "URL", "— (Clerk's CDN)", "clerk: where the SDK loads clerk-js from."),
        Key("apps[].auth.clerk_api_url", "URL", "https://api.clerk.com", "clerk: Backend API base URL."),
        Key("apps[].auth.api_keys[].name", "string", "— (required)", "Server-to-server key name (`X-Gatehouse-User: service:<name>`)."),
        Key("apps[].auth.api_keys[].sha256", "64 hex digits", "— (required)", "SHA-256 of the key (`gatehouse keys hash`); the key itself is never stored."),
        Key("apps[].auth.api_keys[].admin", "boolean", "false", "May call `/_auth/users`."),
        Key("apps[].policy.allow_emails", "list of strings", "[]", "Only these users' emails pass (403 otherwise)."),
        Key("apps[].policy.allow_email_domains", "list of strings", "[]", "Only emails in these domains pass."),
        Key("apps[].policy.require_claims", "mapping", "{}", "Claims that must equal these values."),
        Key("apps[].quotas.user_requests_per_minute", "integer", "0", "Per user per app, per replica; 0 = unlimited (429 past it)."),
        Key("apps[].quotas.org_requests_per_month", "integer", "0", "Per org; 0 = unlimited; seeded from the meter logs at start."),
        Key("apps[].inject.enabled", "boolean", "true", "Inject the SDK into the app's HTML responses."),
    ]

    /// The keys allowed directly in the mapping at `parent` (`""` for the top level,
    /// `"apps[]"`, `"apps[].auth"`, …), in reference order.
    public static func children(of parent: String) -> [String] {
        let prefix = parent.isEmpty ? "" : parent + "."
        var names: [String] = []
        for key in keys where key.path.hasPrefix(prefix) {
            let rest = key.path.dropFirst(prefix.count)
            var name = String(rest.prefix { $0 != "." })
            if name.hasSuffix("[]") { name.removeLast(2) }
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// The environment variable that sets a key (`GATEHOUSE_*`, `CLERK_*`), if any.
    public static func environmentVariables(for path: String) -> [String] {
        EnvironmentOverlay.settings.filter { setting in
            let prefix = setting.scope == .app ? "apps[]." : ""
            return prefix + setting.path.joined(separator: ".") == path
        }.map(\.variable)
    }

    /// Every variable the loader reads besides `${VAR}` references.
    public static var environmentVariableNames: [String] { EnvironmentOverlay.settings.map(\.variable) }

    /// The README's configuration reference, as Markdown.
    public static func markdownReference() -> String {
        var lines = [
            "| key | type | default | env | reload | what it does |",
            "|---|---|---|---|---|---|",
        ]
        for key in keys {
            let env = environmentVariables(for: key.path).map { "`\($0)`" }.joined(separator: ", ")
            let cells = [
                "`\(key.path)`", key.type, key.defaultValue.hasPrefix("—") ? key.defaultValue : "`\(key.defaultValue)`",
                env.isEmpty ? "" : env, key.reloadable ? "yes" : "restart", key.summary,
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
