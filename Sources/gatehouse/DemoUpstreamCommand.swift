import ArgumentParser
import Foundation
import GatehouseApp
import GatehouseCore

/// `gatehouse demo-upstream` (hidden): only the demo app/API upstream, on a chosen
/// address, for benchmarks that compare it direct and behind `gatehouse serve`.
struct DemoUpstreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-upstream",
        abstract: "Run only the demo upstream (for benchmarks).",
        shouldDisplay: false
    )

    @Option(name: .long, help: "Listen address (host:port).")
    var listen: String = "127.0.0.1:8081"
    @Option(name: .customLong("owner-key"), help: "The owner key its /_api expects as a bearer token.")
    var ownerKey: String
    @Option(name: .customLong("event-loops"), help: "Event loops.")
    var eventLoops: Int = 1

    func run() async throws {
        guard let address = ListenAddress(parsing: listen) else {
            throw CLIError(description: "demo-upstream: --listen: not a host:port: \(listen)")
        }
        guard !ownerKey.isEmpty else { throw CLIError(description: "demo-upstream: --owner-key: must not be empty") }
        guard eventLoops >= 1 else { throw CLIError(description: "demo-upstream: --event-loops: must be at least 1") }
        let logger = CLILogging.bootstrap()
        let service = DemoUpstreamService(listen: address, ownerKey: ownerKey, eventLoops: eventLoops, logger: logger, print: { Swift.print($0) })
        do {
            try await GatehouseService.runUntilSignalled(service, logger: logger)
        } catch {
            throw CLIError(description: "gatehouse demo-upstream: \(error)")
        }
    }
}
