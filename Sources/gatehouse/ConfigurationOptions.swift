import ArgumentParser
import Foundation
import GatehouseCore

/// Flags shared by `serve` and `check`; each overrides one environment variable's
/// setting (flags > environment > file, SPEC "Configuration").
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file.")
    var config: String?
    @Option(name: .long, help: "Proxy listen address (host:port).")
    var listen: String?
    @Option(name: .customLong("admin-listen"), help: "Admin listener (host:port).")
    var adminListen: String?
    @Option(name: .long, help: "App upstream URL (single-app).")
    var upstream: String?
    @Option(name: .customLong("api-upstream"), help: "API upstream URL (single-app).")
    var apiUpstream: String?
    @Option(name: .customLong("owner-key-file"), help: "File holding the owner's API key (single-app).")
    var ownerKeyFile: String?
    @Option(name: .long, help: "Organization billed (single-app).")
    var org: String?
    @Option(name: .long, help: "App id (single-app).")
    var app: String?
    @Option(name: .customLong("auth-mode"), help: "clerk | jwt | dev | none (single-app).")
    var authMode: String?
    @Option(name: .customLong("jwks-url"), help: "JWKS URL (single-app).")
    var jwksURL: String?
    @Option(name: .long, help: "Required token issuer (single-app).")
    var issuer: String?
    @Option(name: .long, help: "Accepted audiences, comma-separated (single-app).")
    var audience: String?
    @Option(name: .customLong("meter-dir"), help: "Meter log directory.")
    var meterDir: String?
    @Option(name: .customLong("users-store"), help: "User store (sqlite:PATH or postgres://…).")
    var usersStore: String?
    @Option(name: .customLong("event-loops"), help: "Event loops (auto = cores).")
    var eventLoops: String?
    @Flag(name: .customLong("allow-dev-on-network"), help: "Allow dev mode on a non-loopback address.")
    var allowDevOnNetwork = false

    var flagOverrides: [String: String] {
        var flags: [String: String] = [:]
        let pairs: [(String, String?)] = [
            ("GATEHOUSE_LISTEN", listen), ("GATEHOUSE_ADMIN_LISTEN", adminListen), ("GATEHOUSE_UPSTREAM", upstream),
            ("GATEHOUSE_API_UPSTREAM", apiUpstream), ("GATEHOUSE_OWNER_KEY_FILE", ownerKeyFile), ("GATEHOUSE_ORG", org),
            ("GATEHOUSE_APP", app), ("GATEHOUSE_AUTH_MODE", authMode), ("GATEHOUSE_JWKS_URL", jwksURL),
            ("GATEHOUSE_ISSUER", issuer), ("GATEHOUSE_AUDIENCE", audience), ("GATEHOUSE_METER_DIR", meterDir),
            ("GATEHOUSE_USERS_STORE", usersStore), ("GATEHOUSE_EVENT_LOOPS", eventLoops),
        ]
        for case let (key, value?) in pairs { flags[key] = value }
        return flags
    }

    /// Reads the file, merges environment and flags, validates.
    func load() throws -> GatehouseConfiguration {
        var yaml: String?
        if let config {
            do {
                yaml = try String(contentsOfFile: config, encoding: .utf8)
            } catch {
                throw CLIError(description: "config: --config: cannot read \(config)")
            }
        }
        let sources = ConfigurationSources(
            yaml: yaml,
            yamlPath: config,
            environment: ProcessInfo.processInfo.environment,
            flags: flagOverrides,
            workingDirectory: FileManager.default.currentDirectoryPath,
            allowDevOnNetwork: allowDevOnNetwork
        )
        do {
            return try ConfigurationLoader.load(sources)
        } catch {
            throw CLIError(description: error.description)
        }
    }
}
