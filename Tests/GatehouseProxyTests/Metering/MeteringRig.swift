import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseMetering
import GatehouseTesting
import Testing

/// Shared helpers for the metering integration tests: temporary meter directories,
/// reading back what the writer put there (every field, as JSON), and YAML for the
/// `gatehouse serve` subprocess.
enum MeteringRig {
    static let apiKey = "gk_meter_test_7b1e0c9a44"
    static let otherAPIKey = "gk_meter_other_52f3aa0d19"
    static let ownerKey = "sk_owner_meter_91ac3e"

    static var bearer: [(String, String)] { [("Authorization", "Bearer " + apiKey)] }
    static var otherBearer: [(String, String)] { [("Authorization", "Bearer " + otherAPIKey)] }

    /// A fresh empty directory under the system's temporary folder.
    static func tempDirectory(_ label: String = "meter") -> String {
        let path = NSTemporaryDirectory() + "gatehouse-\(label)-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// jwt mode without key source: two server-to-server api keys (two distinct users,
    /// `service:meter` and `service:other`).
    static var apiKeyAuth: AuthConfiguration {
        var auth = AuthConfiguration()
        auth.mode = .jwt
        auth.apiKeys = [
            APIKeyConfiguration(name: "meter", sha256: APIKeyHash.hex(Array(apiKey.utf8))),
            APIKeyConfiguration(name: "other", sha256: APIKeyHash.hex(Array(otherAPIKey.utf8))),
        ]
        return auth
    }

    /// A unique app id, so the process-wide metrics of one test are its own.
    static func uniqueAppID(_ prefix: String) -> String {
        prefix + "_" + String(UUID().uuidString.prefix(8)).lowercased()
    }

    /// Metering into `dir` with a known instance name.
    static func meter(_ config: inout GatehouseConfiguration, dir: String, instance: String = "itest", fsync: MeteringConfiguration.Fsync = .interval, flushMs: Int = 50) {
        config.metering.dir = dir
        config.metering.instance = instance
        config.metering.fsync = fsync
        config.metering.flushIntervalMs = flushMs
    }

    /// Every `*.jsonl` file under `dir` (recursively), sorted.
    static func files(_ dir: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: dir) else { return [] }
        var out: [String] = []
        while let name = walker.nextObject() as? String {
            if name.hasSuffix(".jsonl") { out.append(dir + "/" + name) }
        }
        return out.sorted()
    }

    /// Every complete line of every meter file under `dir`, parsed as a JSON object
    /// (a line that is not one is returned as an empty dictionary so a test notices).
    static func records(_ dir: String) -> [[String: Any]] {
        var out: [[String: Any]] = []
        for file in files(dir) {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            // A last piece without its newline is torn: not a record.
            lines.removeLast()
            for line in lines where !line.isEmpty {
                let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
                out.append(object ?? [:])
            }
        }
        return out
    }

    /// The one record a single-request test left under `dir` (more or fewer fail it).
    static func onlyRecord(_ dir: String) throws -> [String: Any] {
        let all = records(dir)
        try #require(all.count == 1, "records: \(all)")
        return all[0]
    }

    /// The raw bytes of every meter file under `dir`, as text (for "never contains" checks).
    static func allText(_ dir: String) -> String {
        files(dir).map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" }.joined()
    }

    /// Total calls `MeterReport.run` finds under `dir`, and the lines it skipped.
    static func reportTotals(_ dir: String) throws -> (calls: Int, skipped: Int) {
        let result = try MeterReport.run(MeterReport.Query(directory: dir, by: .day))
        return (result.rows.reduce(0) { $0 + $1.calls }, result.skipped)
    }

    /// Polls every 10 ms until `condition` holds or `timeout` passes (a bound against a
    /// hung test, never a timing assertion); whether it held.
    static func eventually(timeout: Duration = GateRig.pollTimeout, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return await condition()
    }

    // MARK: - Subprocess

    static func yaml(
        api: String, dir: String, instance: String = "proc", fsync: String = "always", flushMs: Int = 20,
        eventLoops: Int = 2, extra: String = "", quotas: String = ""
    ) -> String {
        """
        listen: 127.0.0.1:0
        admin_listen: 127.0.0.1:0
        event_loops: \(eventLoops)
        drain_timeout_ms: 10000
        metering:
          dir: \(dir)
          fsync: \(fsync)
          flush_interval_ms: \(flushMs)
          instance: \(instance)
        \(extra)
        apps:
          - id: app_proc
            org: org_proc
            upstream: http://127.0.0.1:1
            api:
              upstream: \(api)
              owner_key: \(ownerKey)
            auth:
              mode: none
              api_keys:
                - name: meter
                  sha256: \(APIKeyHash.hex(Array(apiKey.utf8)))
        \(quotas)
        """
    }

    /// The admin port from the `gatehouse listening` log line (`admin=[IPv4]…:PORT`).
    static func adminPort(inLog text: String) -> Int? {
        for line in text.split(separator: "\n") where line.contains("gatehouse listening") {
            guard let range = line.range(of: "admin=") else { continue }
            let value = line[range.upperBound...].prefix { $0 != " " }
            guard let colon = value.lastIndex(of: ":") else { continue }
            return Int(value[value.index(after: colon)...])
        }
        return nil
    }

    /// `GET path` on `port`, on a fresh connection that closes after the answer.
    static func get(port: Int, _ path: String, headers: [(String, String)] = [], host: String = "gatehouse.test") async throws -> TestHTTPResponse {
        let connection = try await RawConnection.connect(port: port)
        var head = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        do {
            try await connection.send(head + "\r\n")
            let response = try await connection.readResponse()
            await connection.close()
            return response
        } catch {
            await connection.close()
            throw error
        }
    }

    // MARK: - Prometheus text

    /// The value of the sample `name{labels}` whose labels include every pair in
    /// `labels`, summed over the matching samples; `nil` when none matches.
    static func metric(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        var total: Double?
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let value = Double(line[line.index(after: space)...])
            let seriesName = series.prefix { $0 != "{" }
            guard seriesName == name, let value else { continue }
            let labelText = series.dropFirst(seriesName.count)
            guard labels.allSatisfy({ labelText.contains("\($0.key)=\"\($0.value)\"") }) else { continue }
            total = (total ?? 0) + value
        }
        return total
    }
}

extension Dictionary where Key == String, Value == Any {
    func string(_ key: String) -> String? { self[key] as? String }
    func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
    func double(_ key: String) -> Double? { (self[key] as? NSNumber)?.doubleValue }
}

struct MeteringTestError: Error, CustomStringConvertible {
    let description: String
}
