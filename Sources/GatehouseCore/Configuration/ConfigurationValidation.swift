/// Checks that span several fields of a decoded configuration: app ids and hosts are
/// unique, one default app at most, each auth mode has its key source, dev mode stays
/// on loopback. Checks of a single value happen while decoding, where its field is known.
enum ConfigurationValidation {
    static func validate(_ config: GatehouseConfiguration) throws(ConfigurationError) {
        guard !config.apps.isEmpty else {
            throw ConfigurationError(.missing, field: "apps",
                                     message: "at least one app is required (in the file, or GATEHOUSE_UPSTREAM and friends)")
        }
        if config.listen == config.adminListen, config.listen.port != 0 {
            throw ConfigurationError(.conflict, field: "admin_listen", message: "must differ from listen (\(config.listen))")
        }
        var appIndexByID: [String: Int] = [:]
        var appIndexByHost: [String: Int] = [:]
        var defaultAppIndex: Int?
        for (index, app) in config.apps.enumerated() {
            let path = "apps[\(index)]"
            if let other = appIndexByID[app.id] {
                throw ConfigurationError(.conflict, field: "\(path).id", message: "duplicate app id \(app.id) (also apps[\(other)])")
            }
            appIndexByID[app.id] = index
            if app.hosts.isEmpty {
                if let other = defaultAppIndex {
                    throw ConfigurationError(.conflict, field: "\(path).hosts",
                                             message: "only one app may omit hosts, and apps[\(other)] already does")
                }
                defaultAppIndex = index
            }
            for host in app.hosts {
                if let other = appIndexByHost[host] {
                    throw ConfigurationError(.conflict, field: "\(path).hosts",
                                             message: "host \(host) is also served by apps[\(other)]")
                }
                appIndexByHost[host] = index
            }
            try validateAuth(app.auth, path: "\(path).auth")
            if app.auth.mode == .dev, !config.listen.isLoopback, !config.allowDevOnNetwork {
                throw ConfigurationError(.invalidValue, field: "listen",
                                         message: "\(path) uses dev mode, which needs --allow-dev-on-network to listen on non-loopback \(config.listen)")
            }
        }
    }

    private static func validateAuth(_ auth: AuthConfiguration, path: String) throws(ConfigurationError) {
        switch auth.mode {
        case .jwt where auth.jwksURL == nil && auth.jwtKey == nil:
            throw ConfigurationError(.missing, field: "\(path).jwks_url", message: "jwt mode needs jwks_url or jwt_key")
        case .clerk where auth.publishableKey == nil && auth.jwksURL == nil && auth.jwtKey == nil:
            throw ConfigurationError(.missing, field: "\(path).publishable_key",
                                     message: "clerk mode needs publishable_key, jwks_url or jwt_key")
        default:
            break
        }
        var names: Set<String> = []
        var hashes: Set<String> = []
        for (index, key) in auth.apiKeys.enumerated() {
            guard names.insert(key.name).inserted else {
                throw ConfigurationError(.conflict, field: "\(path).api_keys[\(index)].name", message: "duplicate api key name \(key.name)")
            }
            guard hashes.insert(key.sha256).inserted else {
                throw ConfigurationError(.conflict, field: "\(path).api_keys[\(index)].sha256", message: "the same key is listed twice")
            }
        }
    }
}
