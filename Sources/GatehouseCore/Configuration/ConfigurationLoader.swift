/// Builds the one validated ``GatehouseConfiguration`` snapshot from a YAML file, the
/// environment and flags (SPEC "Configuration"), or says in one line what is wrong.
///
/// Steps: parse the YAML into a tree; lay `GATEHOUSE_*`/`CLERK_*` variables and flags over
/// it; read it with `${VAR}` expansion and `*_file` secrets; check rules across fields.
/// Pure apart from reading `*_file` secrets; call it once at start-up, off any event loop.
public enum ConfigurationLoader {
    public static func load(_ sources: ConfigurationSources) throws(ConfigurationError) -> GatehouseConfiguration {
        var root = try ConfigurationNode.parse(yaml: sources.yaml, path: sources.yamlPath)
        let overlay = EnvironmentOverlay(environment: sources.environment, flags: sources.flags)
        try overlay.apply(to: &root)
        let context = ConfigurationReader.Context(environment: sources.environment,
                                                  workingDirectory: sources.workingDirectory)
        var config = try GatehouseConfiguration(decoding: root, context: context)
        config.allowDevOnNetwork = sources.allowDevOnNetwork
        try ConfigurationValidation.validate(config)
        return config
    }
}
