import ArgumentParser
import GatehouseApp
import GatehouseCore

/// `gatehouse serve`: run the proxy until SIGTERM/SIGINT, then drain and exit 0; SIGHUP
/// re-reads the configuration file and environment.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy.")

    @OptionGroup var options: ConfigurationOptions

    @Flag(name: .customLong("watch-config"), help: "Reload when the --config file changes, as on SIGHUP.")
    var watchConfig = false

    func run() async throws {
        // The watch first: its baseline is the file before it is read (see `Watch`).
        var watch: GatehouseService.Watch?
        if watchConfig {
            guard let path = options.config else { throw CLIError(description: "gatehouse: --watch-config needs --config FILE") }
            watch = GatehouseService.Watch(path: path)
        }
        let configuration = try options.load()
        let logger = CLILogging.bootstrap()
        do {
            let options = self.options
            let service = GatehouseService(configuration: configuration, logger: logger, reload: { try options.load() }, watch: watch)
            try await GatehouseService.runUntilSignalled(service, logger: logger)
        } catch {
            throw CLIError(description: "gatehouse: \(error)")
        }
    }
}

/// `gatehouse check`: validate and print the effective configuration, secrets masked.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a configuration and print it with secrets masked.")

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let configuration = try options.load()
        print(ConfigurationPrinter.yaml(configuration), terminator: "")
    }
}

/// `gatehouse config-reference`: the configuration reference the README carries, rendered
/// from the same key list the loader accepts (a test compares the two).
struct ConfigReference: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-reference", abstract: "Print every configuration key as a Markdown table.")

    func run() throws {
        print(ConfigurationSchema.markdownReference(), terminator: "")
    }
}
