import Foundation

public struct GatehouseProcessError: Error, CustomStringConvertible {
    public let description: String
}

/// The real `gatehouse` executable run as a child process with a YAML configuration,
/// for what only a process shows: its peak memory, its reaction to SIGTERM, its exit
/// status. The caller must end it (``terminate()`` and ``waitForExit(timeout:)``, or
/// ``kill()`` — also safe in a `defer` after a failed expectation).
public final class GatehouseProcess {
    public let process: ChildProcess
    public let port: Int
    public let directory: URL
    public let logFile: URL

    /// The `gatehouse` binary next to the test bundle (what `swift build` / `swift test`
    /// produced), else `<package>/.build/debug/gatehouse` found from `filePath`, or
    /// `GATEHOUSE_BINARY`. Throws a message saying to run `swift build` when none exists.
    public static func locateBinary(filePath: String = #filePath) throws -> URL {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let explicit = ProcessInfo.processInfo.environment["GATEHOUSE_BINARY"] {
            candidates.append(URL(fileURLWithPath: explicit))
        }
        if let first = CommandLine.arguments.first {
            var dir = URL(fileURLWithPath: first).deletingLastPathComponent()
            // macOS: …/debug/X.xctest/Contents/MacOS/X; Linux: …/debug/X.xctest
            for _ in 0..<4 {
                candidates.append(dir.appendingPathComponent("gatehouse"))
                dir = dir.deletingLastPathComponent()
            }
        }
        var dir = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                candidates.append(dir.appendingPathComponent(".build/debug/gatehouse"))
                break
            }
            dir = dir.deletingLastPathComponent()
        }
        for candidate in candidates {
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
               fm.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        throw GatehouseProcessError(description:
            "the gatehouse executable was not found (looked in: \(candidates.map(\.path).joined(separator: ", "))); run `swift build` before `swift test`, or set GATEHOUSE_BINARY")
    }

    /// Writes `yaml` (which must say `listen: 127.0.0.1:0` or a fixed port and
    /// `admin_listen: 127.0.0.1:0`) to a fresh temporary directory and runs
    /// `gatehouse serve --config` there; returns once the log says where it listens.
    /// - Parameter launcher: a command that runs the binary (e.g. `setpriv --reuid …`),
    ///   given the binary's path and arguments after its own.
    public static func start(
        yaml: String, binary: URL, arguments: [String] = [], launcher: [String] = [], startTimeout: Duration = .seconds(30)
    ) async throws -> GatehouseProcess {
        let fm = FileManager.default
        let directory = fm.temporaryDirectory.appendingPathComponent("gatehouse-proc-\(UUID().uuidString)")
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("gatehouse.yaml")
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let logFile = directory.appendingPathComponent("gatehouse.log")
        _ = fm.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)

        let process = ChildProcess()
        let serve = ["serve", "--config", config.path] + arguments
        if let command = launcher.first {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(launcher.dropFirst()) + [binary.path] + serve
        } else {
            process.executableURL = binary
            process.arguments = serve
        }
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GATEHOUSE_") }
        environment["GATEHOUSE_LOG_LEVEL"] = "info"
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()

        let deadline = ContinuousClock.now + startTimeout
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            if let port = listenPort(inLog: text) {
                return GatehouseProcess(process: process, port: port, directory: directory, logFile: logFile)
            }
            if !process.isRunning {
                throw GatehouseProcessError(description: "gatehouse exited with \(process.terminationStatus) before listening: \(text)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.interrupt()
        Foundation.kill(process.processIdentifier, SIGKILL)
        throw GatehouseProcessError(description: "gatehouse did not report listening within \(startTimeout)")
    }

    /// The proxy port from the `gatehouse listening` log line (`listen=[IPv4]127.0.0.1/127.0.0.1:PORT`).
    static func listenPort(inLog text: String) -> Int? {
        for line in text.split(separator: "\n") where line.contains("gatehouse listening") {
            guard let range = line.range(of: "listen=") else { continue }
            let value = line[range.upperBound...].prefix { $0 != " " }
            guard let colon = value.lastIndex(of: ":") else { continue }
            return Int(value[value.index(after: colon)...])
        }
        return nil
    }

    private init(process: ChildProcess, port: Int, directory: URL, logFile: URL) {
        self.process = process
        self.port = port
        self.directory = directory
        self.logFile = logFile
    }

    public var pid: Int32 { process.processIdentifier }
    /// The file `serve --config` reads; rewrite it and send SIGHUP to reload.
    public var configFile: URL { directory.appendingPathComponent("gatehouse.yaml") }

    /// Sends `signal` (e.g. `SIGHUP`) to the process.
    public func signal(_ signal: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
    }
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// A `VmHWM` / `VmRSS` style field of `/proc/<pid>/status`, in bytes (Linux).
    public func memoryStatus(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kb = Int(parts[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// Peak resident set size so far (`VmHWM`), in bytes.
    public var peakRSS: Int? { memoryStatus("VmHWM") }

    /// Sends SIGTERM (graceful drain).
    public func terminate() {
        if process.isRunning { Foundation.kill(pid, SIGTERM) }
    }

    /// Sends SIGKILL if still running, and removes the temporary directory. Idempotent.
    public func kill() {
        if process.isRunning {
            Foundation.kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Waits (bounded, polling) for the process to exit; its exit status, or `nil` if
    /// it still runs after `timeout`.
    public func waitForExit(timeout: Duration = .seconds(15)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }
}
