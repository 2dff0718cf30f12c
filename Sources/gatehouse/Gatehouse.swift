import ArgumentParser
import Foundation
import GatehouseApp
import GatehouseCore
import Logging

/// The `gatehouse` command line (SPEC "Command line"). Parses arguments and hands a
/// configuration snapshot to GatehouseApp; no proxy logic lives here.
@main
struct Gatehouse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse",
        abstract: "A reverse-proxy auth sidecar: gates /_api with bearer tokens and forwards with the owner's key.",
        subcommands: [Serve.self, Demo.self, Check.self, Meter.self, Keys.self, Token.self, Users.self, DemoUpstreamCommand.self, ConfigReference.self]
    )

    /// Every failure before anything starts is one stderr line and exit status 2
    /// (SPEC: bad flags, bad config, unreadable files).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as CLIError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            Foundation.exit(2)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            FileHandle.standardError.write(Data(("gatehouse: " + message + "\n").utf8))
            Foundation.exit(2)
        }
    }
}

/// A failure the CLI reports as one line, exit 2.
struct CLIError: Error, CustomStringConvertible {
    let description: String
}

enum CLILogging {
    /// swift-log to stderr; level from `GATEHOUSE_LOG_LEVEL` (default info).
    static func bootstrap() -> Logger {
        let level = ProcessInfo.processInfo.environment["GATEHOUSE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "gatehouse")
    }
}
