import Foundation

/// One run of the `gatehouse` binary for black-box CLI tests: arguments, stdin and
/// environment in; exit status, stdout and stderr out.
public struct CLIRun: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    /// Non-empty stderr lines.
    public var stderrLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty } }

    /// Runs on a Dispatch thread, not the test's: the waits below block, and a blocked
    /// cooperative thread (there are as many as cores) would stall every other test.
    public static func run(
        _ arguments: [String], stdin: Data = Data(), environment: [String: String] = [:], directory: URL? = nil, filePath: String = #filePath
    ) async throws -> CLIRun {
        let binary = try GatehouseProcess.locateBinary(filePath: filePath)
        return try await withCheckedThrowingContinuation { (done: CheckedContinuation<CLIRun, Error>) in
            DispatchQueue.global().async {
                done.resume(with: Result { try runBlocking(binary: binary, arguments, stdin: stdin, environment: environment, directory: directory) })
            }
        }
    }

    private static func runBlocking(
        binary: URL, _ arguments: [String], stdin: Data, environment: [String: String], directory: URL?
    ) throws -> CLIRun {
        let process = ChildProcess()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GATEHOUSE_") && !$0.key.hasPrefix("CLERK_") }
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(stdin)
        try input.fileHandleForWriting.close()
        // stderr is drained beside stdout, so a chatty child never blocks on a full pipe.
        let errBox = ErrorOutput()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = errors.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let out = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let err = errBox.data
        process.waitUntilExit()
        return CLIRun(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}

private final class ErrorOutput: @unchecked Sendable {
    // Written by one reader thread, read after `DispatchGroup.wait()`: the group orders it.
    var data = Data()
}
