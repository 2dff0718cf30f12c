import Foundation

#if canImport(Glibc)
import Glibc
#endif

public struct NginxProcessError: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}

/// A real nginx run as a child process in front of Gatehouse, for the chaining tests.
///
/// Everything it writes stays in a fresh temporary prefix directory: the configuration
/// (a fixed main part around the caller's `http`-level snippet), the pid file, the error
/// and access logs and nginx's temp files. It runs in the foreground as a single process
/// (`daemon off; master_process off;`), so as root it needs no `user` and ends with its
/// child handle. nginx cannot report a port it chose, so the port is picked here: a free
/// one below Linux's ephemeral range (32768+), which the kernel never hands out for port
/// 0 or outgoing connections, so only another explicit binder can take it first — then
/// the start is retried on another port. Started with ``ChildProcess`` (never
/// Foundation's `Process`). The caller ends it with ``stop()``.
public final class NginxProcess: Sendable {
    public let process: ChildProcess
    /// Where nginx listens, on 127.0.0.1.
    public let port: Int
    /// The prefix directory (removed by ``stop()``).
    public let directory: URL

    /// `GATEHOUSE_NGINX`, else Debian's `/usr/sbin/nginx` (`apt-get install nginx`, as
    /// `.ci/run` does).
    public static func locateBinary() throws -> URL {
        let candidates = [ProcessInfo.processInfo.environment["GATEHOUSE_NGINX"], "/usr/sbin/nginx", "/usr/bin/nginx"].compactMap { $0 }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw NginxProcessError(description: "the chaining tests need nginx: apt-get install nginx (or set GATEHOUSE_NGINX); looked in \(candidates)")
        }
        return URL(fileURLWithPath: found)
    }

    /// The access log format the main configuration defines and logs with: nginx's
    /// request id, the peer it saw, and the `X-Forwarded-For` it received.
    public static let accessLogFormat = #"$request_id $remote_addr "$http_x_forwarded_for""#

    /// Starts nginx with `site(port)` (an `http`-level snippet: `upstream`, `map`,
    /// `server` blocks that listen on 127.0.0.1:`port`) inside a main configuration of
    /// its own; returns once nginx accepts connections on `port`.
    public static func start(
        attempts: Int = 8, startTimeout: Duration = .seconds(15), site: (Int) throws -> String
    ) async throws -> NginxProcess {
        let binary = try locateBinary()
        var failures: [String] = []
        for _ in 0..<attempts {
            guard let port = freePort() else { continue }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-nginx-\(UUID().uuidString)")
            do {
                if let nginx = try await launch(binary: binary, directory: directory, port: port, site: try site(port), startTimeout: startTimeout) {
                    return nginx
                }
                failures.append("port \(port) was taken")
            } catch {
                try? FileManager.default.removeItem(at: directory)
                throw error
            }
            try? FileManager.default.removeItem(at: directory)
        }
        throw NginxProcessError(description: "nginx did not start in \(attempts) attempts: \(failures)")
    }

    /// One start on `port`: the process, or `nil` when the port was taken meanwhile.
    private static func launch(binary: URL, directory: URL, port: Int, site: String, startTimeout: Duration) async throws -> NginxProcess? {
        let fm = FileManager.default
        try fm.createDirectory(at: directory.appendingPathComponent("temp"), withIntermediateDirectories: true)
        try site.write(to: directory.appendingPathComponent("site.conf"), atomically: true, encoding: .utf8)
        let main = """
            pid nginx.pid;
            error_log error.log info;
            events { worker_connections 256; }
            http {
                client_body_temp_path temp/client_body;
                proxy_temp_path temp/proxy;
                fastcgi_temp_path temp/fastcgi;
                uwsgi_temp_path temp/uwsgi;
                scgi_temp_path temp/scgi;
                log_format chain '\(accessLogFormat)';
                access_log access.log chain;
                include site.conf;
            }

            """
        let conf = directory.appendingPathComponent("nginx.conf")
        try main.write(to: conf, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("stderr.log")
        _ = fm.createFile(atPath: output.path, contents: nil)
        let log = try FileHandle(forWritingTo: output)

        let process = ChildProcess()
        process.executableURL = binary
        // `-e`: the error log before the configuration is read, so nothing is written to
        // /var/log/nginx even for a moment.
        process.arguments = ["-p", directory.path + "/", "-c", conf.path, "-e", directory.appendingPathComponent("error.log").path,
                             "-g", "daemon off; master_process off;"]
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try? log.close()
        let nginx = NginxProcess(process: process, port: port, directory: directory)

        let deadline = ContinuousClock.now + startTimeout
        while ContinuousClock.now < deadline {
            if let connection = try? await RawConnection.connect(port: port) {
                await connection.close()
                if process.isRunning { return nginx }
            }
            if !process.isRunning {
                let errors = nginx.errorLog + ((try? String(contentsOf: output, encoding: .utf8)) ?? "")
                if errors.contains("Address already in use") { return nil }
                throw NginxProcessError(description: "nginx exited with \(process.terminationStatus) before listening: \(errors)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        await nginx.stop()
        throw NginxProcessError(description: "nginx did not listen on \(port) within \(startTimeout): \(nginx.errorLog)")
    }

    /// A port in 20000..<32768 nothing listens on right now (a bind probe on 127.0.0.1).
    static func freePort() -> Int? {
        for _ in 0..<64 {
            let port = Int.random(in: 20_000..<32_768)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return nil }
            let bound = withLoopbackAddress(port: port) { bind(fd, $0, $1) }
            close(fd)
            if bound == 0 { return port }
        }
        return nil
    }

    private init(process: ChildProcess, port: Int, directory: URL) {
        self.process = process
        self.port = port
        self.directory = directory
    }

    public var errorLog: String { (try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? "" }
    /// Complete lines of the access log (``accessLogFormat``), in order.
    public var accessLogLines: [String] {
        let text = (try? String(contentsOf: directory.appendingPathComponent("access.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// Ends nginx (SIGTERM: a fast shutdown; SIGKILL if it is still there after a bounded
    /// wait) and removes its directory. Idempotent.
    public func stop() async {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(10)
            while process.isRunning, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
