import Foundation

/// Everything a configuration is built from, gathered by the caller so that loading is pure.
///
/// Precedence is flags > environment > file (SPEC "Configuration"). The CLI fills
/// `environment` from the process; tests pass their own.
public struct ConfigurationSources: Sendable {
    /// The YAML file's contents; `nil` when there is no `--config`.
    public var yaml: String?
    /// The file's path, used only to name it in messages.
    public var yamlPath: String?
    /// Variables for `${VAR}` expansion and the single-app `GATEHOUSE_*` / `CLERK_*` settings.
    public var environment: [String: String]
    /// Command-line overrides, keyed by the variable they override (`GATEHOUSE_LISTEN`).
    /// Errors name them as flags: `GATEHOUSE_API_UPSTREAM` → `--api-upstream`,
    /// `CLERK_SECRET_KEY` → `--clerk-secret-key`.
    public var flags: [String: String]
    /// Relative `*_file` paths, `metering.dir`, `dev_key_file`, `ca_file` and
    /// `sqlite:PATH` are resolved against it.
    public var workingDirectory: String
    /// `--allow-dev-on-network`: dev mode may listen on a non-loopback address.
    public var allowDevOnNetwork: Bool

    public init(
        yaml: String? = nil,
        yamlPath: String? = nil,
        environment: [String: String] = [:],
        flags: [String: String] = [:],
        workingDirectory: String = FileManager.default.currentDirectoryPath,
        allowDevOnNetwork: Bool = false
    ) {
        self.yaml = yaml
        self.yamlPath = yamlPath
        self.environment = environment
        self.flags = flags
        self.workingDirectory = workingDirectory
        self.allowDevOnNetwork = allowDevOnNetwork
    }

    /// Reads the YAML file at `path` (relative to `workingDirectory`) into `yaml`.
    public mutating func readYAMLFile(atPath path: String) throws(ConfigurationError) {
        let resolved = ConfigurationFiles.resolve(path, against: workingDirectory)
        yaml = try ConfigurationFiles.readText(atPath: resolved, field: path)
        yamlPath = path
    }
}
