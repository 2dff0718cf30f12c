import ArgumentParser
import Foundation
import GatehouseApp
import GatehouseCore

/// `gatehouse demo`: the embedded default — demo app, dev issuer and proxy on
/// 127.0.0.1:8080 — with a ready `curl` line.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a demo app behind a dev-mode Gatehouse on 127.0.0.1:8080.")

    @Option(name: .long, help: "Listen address (default: GATEHOUSE_LISTEN or 127.0.0.1:8080).")
    var listen: String?

    func run() async throws {
        let text = listen ?? ProcessInfo.processInfo.environment["GATEHOUSE_LISTEN"] ?? "127.0.0.1:8080"
        guard let address = ListenAddress(parsing: text) else {
            throw CLIError(description: "demo: --listen: not a host:port: \(text)")
        }
        guard address.isLoopback else {
            throw CLIError(description: "demo: --listen: the demo runs a dev issuer and only listens on loopback")
        }
        let logger = CLILogging.bootstrap()
        let runner = DemoRunner(listen: address, logger: logger, print: { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) })
        do {
            try await GatehouseService.runUntilSignalled(runner, logger: logger)
        } catch {
            throw CLIError(description: "gatehouse demo: \(error)")
        }
    }
}
