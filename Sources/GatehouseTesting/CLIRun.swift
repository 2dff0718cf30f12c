import Foundation

/// One run of the `gatehouse` binary for black-box CLI tests: arguments, stdin and
/// environment in; exit status, stdout and stderr out.
public struct CLIRun: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    /// Non-empty stderr lines.
    public var stderrLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty } }

    public static func run(
        _ arguments: [String], stdin: Data = Data(), environment: [String: String] = [:], directory: URL? = nil, filePath: String = #filePath
    ) throws -> CLIRun {
        let binary = try GatehouseProcess.locateBinary(filePath: filePath)
        let process = Process()
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
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLIRun(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}
