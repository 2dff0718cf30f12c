import Foundation
import GatehouseAuth

/// What went wrong driving the browser, with what the driver or the page said.
public struct WebDriverError: Error, CustomStringConvertible {
    public let description: String
}

/// A headless Chromium driven over W3C WebDriver: `chromedriver` started as a child
/// process on 127.0.0.1 (a port of its choosing), one browser session with a temporary
/// profile, and commands sent as small JSON requests over one keep-alive connection.
///
/// Binaries: `GATEHOUSE_CHROMIUM` / `GATEHOUSE_CHROMEDRIVER`, else Debian's
/// `/usr/lib/chromium/chromium` and `/usr/bin/chromedriver` (`apt-get install chromium
/// chromium-driver`, as `.ci/run` does). Call ``quit()`` when done (also after a failed
/// expectation); it ends the browser and the driver and removes the profile.
public actor WebDriverBrowser {
    private let driver: ChildProcess
    private let port: Int
    private let sessionID: String
    private let profile: URL
    private var connection: RawConnection?

    /// The key W3C WebDriver uses for an element reference in JSON.
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    /// Starts chromedriver and a headless browser session.
    public static func start(startTimeout: Duration = .seconds(30)) async throws -> WebDriverBrowser {
        let environment = ProcessInfo.processInfo.environment
        let fm = FileManager.default
        let chromium = environment["GATEHOUSE_CHROMIUM"]
            ?? ["/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
                .first { fm.isExecutableFile(atPath: $0) }
        let chromedriver = environment["GATEHOUSE_CHROMEDRIVER"]
            ?? ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver", "/usr/local/bin/chromedriver"]
                .first { fm.isExecutableFile(atPath: $0) }
        guard let chromium, let chromedriver else {
            throw WebDriverError(description:
                "browser tests need Chromium and chromedriver: apt-get install chromium chromium-driver (or set GATEHOUSE_CHROMIUM and GATEHOUSE_CHROMEDRIVER)")
        }

        let directory = fm.temporaryDirectory.appendingPathComponent("gatehouse-browser-\(UUID().uuidString)")
        let profile = directory.appendingPathComponent("profile")
        try fm.createDirectory(at: profile, withIntermediateDirectories: true)
        let logFile = directory.appendingPathComponent("chromedriver.out")
        let process: ChildProcess
        let port: Int
        do {
            (process, port) = try await launchDriver(chromedriver, logFile: logFile, timeout: startTimeout)
        } catch {
            try? fm.removeItem(at: directory)
            throw error
        }

        func fail(_ message: String) -> WebDriverError {
            if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
            try? fm.removeItem(at: directory)
            return WebDriverError(description: message)
        }

        let capabilities: JSONValue = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "goog:loggingPrefs": ["browser": "ALL"],
                    "timeouts": ["script": 15_000, "pageLoad": 30_000, "implicit": 0],
                    "goog:chromeOptions": [
                        "binary": .string(chromium),
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                            "--disable-background-networking", "--disable-component-update", "--window-size=1024,768",
                            .string("--user-data-dir=" + profile.path),
                        ],
                    ],
                ],
            ],
        ]
        do {
            let connection = try await RawConnection.connect(port: port)
            let created = try await send(connection, port: port, "POST", "/session", capabilities, timeout: startTimeout)
            guard let sessionID = created.objectValue?["sessionId"]?.stringValue else {
                await connection.close()
                throw fail("chromedriver did not create a session: \(StrictJSON.serialize(created))")
            }
            return WebDriverBrowser(driver: process, port: port, sessionID: sessionID, profile: directory, connection: connection)
        } catch let error as WebDriverError {
            throw fail(error.description)
        } catch {
            throw fail("chromedriver session: \(error)")
        }
    }

    /// Runs chromedriver with `--port=0` until it reports its port. Its "port 0" is a port
    /// it picks itself, which can collide with one a test server holds ("bind() failed:
    /// Address already in use"); such a start is retried, a few times.
    private static func launchDriver(_ path: String, logFile: URL, timeout: Duration) async throws -> (ChildProcess, Int) {
        let deadline = ContinuousClock.now + timeout
        var attempt = 0
        while true {
            attempt += 1
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
            let log = try FileHandle(forWritingTo: logFile)
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = ["--port=0"]
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            try? log.close()
            while ContinuousClock.now < deadline {
                let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
                if let port = driverPort(inLog: text) { return (process, port) }
                if !process.isRunning { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            if process.isRunning {
                Foundation.kill(process.processIdentifier, SIGKILL)
                throw WebDriverError(description: "chromedriver did not report its port within \(timeout)")
            }
            process.waitUntilExit()
            let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            let collided = text.contains("Address already in use") || text.contains("port not available")
            guard collided, attempt < 5 else {
                throw WebDriverError(description: "chromedriver exited with status \(process.terminationStatus) before listening: \(text)")
            }
        }
    }

    /// `ChromeDriver was started successfully on port N.`
    static func driverPort(inLog text: String) -> Int? {
        guard let range = text.range(of: "started successfully on port ") else { return nil }
        let digits = text[range.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }

    private init(driver: ChildProcess, port: Int, sessionID: String, profile: URL, connection: RawConnection) {
        self.driver = driver
        self.port = port
        self.sessionID = sessionID
        self.profile = profile
        self.connection = connection
    }

    // MARK: - Commands

    /// Loads `url` and waits for the page's `load` event.
    public func navigate(_ url: String) async throws {
        _ = try await command("POST", "url", ["url": .string(url)])
    }

    /// Runs `script` (a function body; `return` gives the result) in the page.
    @discardableResult
    public func execute(_ script: String, _ arguments: [JSONValue] = []) async throws -> JSONValue {
        try await command("POST", "execute/sync", ["script": .string(script), "args": .array(arguments)])
    }

    /// Runs `script` in the page and waits for it to call its last argument (the callback),
    /// returning what it was called with.
    public func executeAsync(_ script: String, _ arguments: [JSONValue] = []) async throws -> JSONValue {
        try await command("POST", "execute/async", ["script": .string(script), "args": .array(arguments)])
    }

    /// The element a CSS selector finds first.
    public func element(_ selector: String) async throws -> String {
        let found = try await command("POST", "element", ["using": "css selector", "value": .string(selector)])
        guard let id = found.objectValue?[Self.elementKey]?.stringValue else {
            throw WebDriverError(description: "no element reference for \(selector): \(StrictJSON.serialize(found))")
        }
        return id
    }

    /// Clicks what `selector` finds, as a user would (scrolled into view, hit-tested).
    public func click(_ selector: String) async throws {
        let id = try await element(selector)
        _ = try await command("POST", "element/\(id)/click", [:])
    }

    /// Types `text` into what `selector` finds.
    public func type(_ selector: String, _ text: String) async throws {
        let id = try await element(selector)
        _ = try await command("POST", "element/\(id)/value", ["text": .string(text)])
    }

    /// Evaluates `expression` in the page every 50 ms until it is truthy (not `null`,
    /// `false`, `0` or `""`) and returns its value; throws after `timeout`, naming the
    /// last value and the page's text.
    @discardableResult
    public func waitUntil(_ expression: String, timeout: Duration = GateRig.pollTimeout) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        var last: JSONValue = .null
        // Once past the deadline too (``GateRig/pollTimeout``: a test task can wait its turn
        // for a thread that long under the full suite, while the page was ready).
        var pastDeadline = false
        while !pastDeadline {
            pastDeadline = ContinuousClock.now >= deadline
            // A navigation in progress can fail a script; that is "not yet".
            if let value = try? await execute("return (\(expression));") {
                last = value
                switch value {
                case .null, .bool(false), .number(0), .string(""): break
                default: return value
                }
            }
            if !pastDeadline { try await Task.sleep(for: .milliseconds(50)) }
        }
        let page = (try? await execute("return document.body ? document.body.innerText : document.documentElement.outerHTML;"))?.stringValue ?? "?"
        let console = await consoleLog()
        throw WebDriverError(description:
            "not true within \(timeout): \(expression) (last: \(StrictJSON.serialize(last))); page: \(page.prefix(600)); console: \(console.suffix(1200))")
    }

    /// The page's console messages since the last call (Chromium's log), for diagnostics.
    public func consoleLog() async -> String {
        guard let entries = try? await command("POST", "se/log", ["type": "browser"]).arrayValue else { return "" }
        return entries.compactMap { $0.objectValue?["message"]?.stringValue }.joined(separator: "\n")
    }

    /// Ends the browser session, then chromedriver, and removes the temporary profile.
    public func quit() async {
        _ = try? await command("DELETE", "", nil)
        await connection?.close()
        connection = nil
        if driver.isRunning {
            Foundation.kill(driver.processIdentifier, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(5)
            while driver.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            if driver.isRunning { Foundation.kill(driver.processIdentifier, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: profile)
    }

    // MARK: - Wire

    private func command(_ method: String, _ path: String, _ body: JSONValue?) async throws -> JSONValue {
        let target = "/session/\(sessionID)" + (path.isEmpty ? "" : "/" + path)
        let connection: RawConnection
        if let open = self.connection {
            connection = open
        } else {
            connection = try await RawConnection.connect(port: port)
            self.connection = connection
        }
        do {
            return try await Self.send(connection, port: port, method, target, body, timeout: .seconds(60))
        } catch let error as WebDriverError {
            throw error
        } catch {
            // The driver closed the keep-alive connection: the next command reconnects.
            await connection.close()
            self.connection = nil
            throw WebDriverError(description: "\(method) \(target): \(error)")
        }
    }

    private static func send(
        _ connection: RawConnection, port: Int, _ method: String, _ target: String, _ body: JSONValue?, timeout: Duration
    ) async throws -> JSONValue {
        let payload = body.map { Array(StrictJSON.serialize($0).utf8) } ?? []
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if body != nil { head += "Content-Type: application/json; charset=utf-8\r\n" }
        head += "Content-Length: \(payload.count)\r\n\r\n"
        try await connection.send(Array(head.utf8) + payload)
        let response = try await connection.readResponse(timeout: timeout)
        let parsed = (try? StrictJSON.parse(response.body)) ?? .null
        let value = parsed.objectValue?["value"] ?? .null
        guard response.status == 200 else {
            let error = value.objectValue?["error"]?.stringValue ?? "HTTP \(response.status)"
            let message = value.objectValue?["message"]?.stringValue ?? response.text
            throw WebDriverError(description: "\(method) \(target): \(error): \(message.prefix(600))")
        }
        return value
    }
}
