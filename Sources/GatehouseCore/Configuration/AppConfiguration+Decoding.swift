/// Reads one `apps[]` entry (SPEC "Configuration") and checks each of its values where its
/// field is known; rules across apps live in ``ConfigurationValidation``.
extension AppConfiguration {
    static let yamlKeys = ConfigurationSchema.children(of: "apps[]")

    /// - Parameter isOnlyApp: "is required" errors then hint at the `GATEHOUSE_*` variable.
    init(decoding node: ConfigurationNode, path: String, isOnlyApp: Bool,
         context: ConfigurationReader.Context) throws(ConfigurationError) {
        let app = try ConfigurationReader(node, path: path, allowed: Self.yamlKeys, context: context)
        let hint: (String...) -> String? = { isOnlyApp ? EnvironmentOverlay.variable(forAppPath: $0) : nil }

        let id = try app.requiredString("id", hint: hint("id"))
        guard ConfigurationRules.isPrintableToken(id) else {
            throw app.invalid("id", "must be non-empty visible ASCII without spaces")
        }
        let org = try app.requiredString("org", hint: hint("org"))
        guard ConfigurationRules.isSafeName(org) else {
            throw app.invalid("org", "must be a safe directory name: letters, digits, '.', '_' and '-', not . or ..")
        }
        var hosts: [String] = []
        for (index, host) in (try app.stringList("hosts") ?? []).enumerated() {
            let name = host.trimmingSpaces().lowercased()
            guard ConfigurationRules.isPrintableToken(name), !name.contains("/") else {
                throw ConfigurationError(.invalidValue, field: "\(app.field("hosts"))[\(index)]", message: "expected a host name")
            }
            hosts.append(name)
        }
        guard let upstream = try app.parsed("upstream", as: "http://, https:// or unix: URL", UpstreamURL.init(parsing:)) else {
            throw app.missing("upstream", hint: hint("upstream"))
        }
        let api = try APIConfiguration(decoding: app.mapping("api", allowed: APIConfiguration.yamlKeys), hint: hint)
        let auth = try AuthConfiguration(decoding: app.mapping("auth", allowed: AuthConfiguration.yamlKeys))
        let policy = try PolicyConfiguration(decoding: app.mapping("policy", allowed: PolicyConfiguration.yamlKeys))
        let quotas = try QuotasConfiguration(decoding: app.mapping("quotas", allowed: QuotasConfiguration.yamlKeys))
        var inject = InjectConfiguration()
        let injectReader = try app.mapping("inject", allowed: ConfigurationSchema.children(of: "apps[].inject"))
        if let enabled = try injectReader.bool("enabled") { inject.enabled = enabled }
        self.init(id: id, org: org, hosts: hosts, upstream: upstream, api: api, auth: auth,
                  policy: policy, quotas: quotas, inject: inject)
    }
}

extension APIConfiguration {
    static let yamlKeys = ConfigurationSchema.children(of: "apps[].api")

    init(decoding api: ConfigurationReader, hint: (String...) -> String?) throws(ConfigurationError) {
        guard let upstream = try api.parsed("upstream", as: "http://, https:// or unix: URL", UpstreamURL.init(parsing:)) else {
            throw api.missing("upstream", hint: hint("api", "upstream"))
        }
        guard let ownerKey = try api.secret("owner_key") else {
            throw api.missing("owner_key", hint: hint("api", "owner_key"))
        }
        guard !ownerKey.isEmpty, ConfigurationRules.isHeaderValue(ownerKey) else {
            throw api.invalid(api.node("owner_key") == nil ? "owner_key_file" : "owner_key",
                              "must be non-empty and hold no line breaks")
        }
        self.init(upstream: upstream, ownerKey: Secret(ownerKey))
        if var prefix = try api.string("prefix") {
            while prefix.count > 1, prefix.hasSuffix("/") { prefix.removeLast() }
            guard prefix.hasPrefix("/"), prefix != "/", !prefix.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace }) else {
                throw api.invalid("prefix", "must start with / and not be / alone, like /_api")
            }
            self.prefix = prefix
        }
        if let strip = try api.bool("strip_prefix") { stripPrefix = strip }
        for (name, value) in try api.stringMap("extra_headers") ?? [] {
            guard ConfigurationRules.isHeaderName(name), ConfigurationRules.isHeaderValue(value) else {
                throw ConfigurationError(.invalidValue, field: "\(api.field("extra_headers")).\(name)",
                                         message: "not a valid header name and value")
            }
            // The body's framing is Gatehouse's, from the body it forwards: a static
            // `Content-Length` or `Transfer-Encoding` would frame some other body, and sent
            // beside the one Gatehouse writes, two framings are how requests are smuggled.
            let lowercased = name.lowercased()
            guard lowercased != "content-length", lowercased != "transfer-encoding" else {
                throw ConfigurationError(.invalidValue, field: "\(api.field("extra_headers")).\(name)",
                                         message: "framing headers are set by Gatehouse from the body it forwards")
            }
            extraHeaders.append(HeaderField(name: name, value: value))
        }
        if let caFile = try api.string("ca_file") { self.caFile = api.resolvePath(caFile) }
    }
}

extension PolicyConfiguration {
    static let yamlKeys = ConfigurationSchema.children(of: "apps[].policy")

    init(decoding policy: ConfigurationReader) throws(ConfigurationError) {
        self.init()
        allowEmails = (try policy.stringList("allow_emails") ?? []).map { $0.trimmingSpaces().lowercased() }
        allowEmailDomains = (try policy.stringList("allow_email_domains") ?? []).map {
            var domain = $0.trimmingSpaces().lowercased()
            if domain.hasPrefix("@") { domain.removeFirst() }
            return domain
        }
        for (claim, value) in try policy.stringMap("require_claims") ?? [] {
            requireClaims[claim] = value
        }
    }
}

extension QuotasConfiguration {
    static let yamlKeys = ConfigurationSchema.children(of: "apps[].quotas")

    init(decoding quotas: ConfigurationReader) throws(ConfigurationError) {
        self.init()
        if let v = try quotas.int("user_requests_per_minute", minimum: 0) { userRequestsPerMinute = v }
        if let v = try quotas.int("org_requests_per_month", minimum: 0) { orgRequestsPerMonth = v }
    }
}
