/// Reads `apps[].auth` (SPEC "Configuration"): the issuer an app trusts and its api keys.
extension AuthConfiguration {
    static let yamlKeys = ConfigurationSchema.children(of: "apps[].auth")

    init(decoding auth: ConfigurationReader) throws(ConfigurationError) {
        self.init()
        if let mode = try auth.parsed("mode", as: "clerk, jwt, dev or none", { Mode(rawValue: $0.trimmingSpaces()) }) {
            self.mode = mode
        }
        if let key = try auth.secret("publishable_key") {
            guard key.hasPrefix("pk_test_") || key.hasPrefix("pk_live_") else {
                throw auth.invalid(auth.node("publishable_key") == nil ? "publishable_key_file" : "publishable_key",
                                   "must start with pk_test_ or pk_live_")
            }
            publishableKey = key
        }
        if let key = try auth.secret("secret_key") { secretKey = Secret(key) }
        jwksURL = try Self.url(auth, "jwks_url")
        if let file = try auth.string("dev_key_file") { devKeyFile = auth.resolvePath(file) }
        if let pem = try auth.secret("jwt_key") {
            guard pem.contains("-----BEGIN") else {
                throw auth.invalid(auth.node("jwt_key") == nil ? "jwt_key_file" : "jwt_key", "expected a PEM public key")
            }
            jwtKey = pem
        }
        issuer = try auth.string("issuer")
        audience = try Self.nonEmptyList(auth, "audience")
        authorizedParties = try Self.nonEmptyList(auth, "authorized_parties")
        if let skew = try auth.int("clock_skew_s", minimum: 0) { clockSkewS = skew }
        if auth.node("allowed_providers") != nil, auth.node("clerk_allowed_providers") != nil {
            throw ConfigurationError(.conflict, field: auth.field("clerk_allowed_providers"),
                                     message: "set either allowed_providers or clerk_allowed_providers, not both")
        }
        let providersKey = auth.node("allowed_providers") != nil ? "allowed_providers" : "clerk_allowed_providers"
        allowedProviders = try auth.stringList(providersKey) ?? []
        for item in try auth.sequence("api_keys") ?? [] {
            let reader = try ConfigurationReader(item.node, path: item.path, allowed: ConfigurationSchema.children(of: "apps[].auth.api_keys[]"),
                                                 context: auth.context)
            apiKeys.append(try APIKeyConfiguration(decoding: reader))
        }
        clerkJSURL = try Self.url(auth, "clerk_js_url")
        if var base = try Self.url(auth, "clerk_api_url") {
            while base.hasSuffix("/") { base.removeLast() }
            clerkAPIURL = base
        }
    }

    private static func url(_ auth: ConfigurationReader, _ key: String) throws(ConfigurationError) -> String? {
        guard let text = try auth.string(key) else { return nil }
        guard ConfigurationRules.isHTTPURL(text) else { throw auth.invalid(key, "expected an http:// or https:// URL") }
        return text
    }

    /// A string-or-list claim filter; an empty list means no filter (`nil`).
    private static func nonEmptyList(_ auth: ConfigurationReader, _ key: String) throws(ConfigurationError) -> [String]? {
        guard let values = try auth.stringList(key), !values.isEmpty else { return nil }
        return values
    }
}

extension APIKeyConfiguration {
    init(decoding key: ConfigurationReader) throws(ConfigurationError) {
        let name = try key.requiredString("name")
        guard ConfigurationRules.isPrintableToken(name) else {
            throw key.invalid("name", "must be non-empty visible ASCII without spaces")
        }
        let hash = try key.requiredString("sha256").trimmingSpaces()
        guard ConfigurationRules.isSHA256Hex(hash) else {
            throw key.invalid("sha256", "expected 64 hex digits (gatehouse keys hash prints them)")
        }
        self.init(name: name, sha256: hash.lowercased(), admin: try key.bool("admin") ?? false)
    }
}
