import Foundation
import GatehouseCore
import GatehouseTesting
import Testing

/// Shared set-up for the chaining tests: the committed nginx example with its
/// placeholders filled in, requests to any port on 127.0.0.1, and header helpers.
enum ChainRig {
    /// The source address nginx connects to Gatehouse from (`proxy_bind`). Linux routes
    /// all of 127.0.0.0/8 to the loopback interface, so a test client (127.0.0.1) and
    /// nginx are told apart by address alone.
    static let nginxAddress = "127.0.0.2"

    /// `<package>/<path>`, found upwards from this file.
    static func repositoryFile(_ path: String, filePath: String = #filePath) -> URL {
        var dir = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { break }
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent(path)
    }

    /// `deploy/nginx/gatehouse.conf` as committed, with its three placeholders filled in.
    /// Throws if a placeholder is left (the example grew one the tests do not know).
    static func nginxSite(listenPort: Int, gatehousePort: Int, proxyBind: String = nginxAddress) throws -> String {
        let template = try String(contentsOf: repositoryFile("deploy/nginx/gatehouse.conf"), encoding: .utf8)
        let site = template
            .replacingOccurrences(of: "${NGINX_LISTEN}", with: "127.0.0.1:\(listenPort)")
            .replacingOccurrences(of: "${NGINX_GATEHOUSE_ADDR}", with: "127.0.0.1:\(gatehousePort)")
            .replacingOccurrences(of: "${NGINX_PROXY_BIND}", with: proxyBind)
        let uncommented = site.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
        if let left = uncommented.first(where: { $0.contains("${") }) {
            throw NginxProcessError(description: "unfilled placeholder in deploy/nginx/gatehouse.conf: \(left)")
        }
        return site
    }

    /// nginx with the example in front of Gatehouse on `gatehousePort`.
    static func startNginx(gatehousePort: Int, proxyBind: String = nginxAddress) async throws -> NginxProcess {
        try await NginxProcess.start { port in
            try nginxSite(listenPort: port, gatehousePort: gatehousePort, proxyBind: proxyBind)
        }
    }

    /// One request on a fresh connection to 127.0.0.1:`port`; the response as read.
    static func request(
        port: Int, _ method: String = "GET", _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        host: String = "gatehouse.test"
    ) async throws -> TestHTTPResponse {
        try await RawConnection.request(port: port, method, target, headers: headers, body: body, host: host)
    }

    /// Every header of a recorded request as `name: value` lines (for "never contains").
    static func allHeaderText(_ request: RecordedRequest) -> String {
        request.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    /// The recorded request's `X-Gatehouse-*` headers (every spelling), sorted.
    static func gatehouseHeaders(_ request: RecordedRequest) -> [String] {
        request.headers.filter { $0.name.lowercased().hasPrefix("x-gatehouse") || $0.name.lowercased().hasPrefix("x_gatehouse") }
            .map { "\($0.name): \($0.value)" }.sorted()
    }

    static func isHex32(_ s: String?) -> Bool {
        guard let s else { return false }
        return s.count == 32 && s.allSatisfy { $0.isHexDigit }
    }

    /// How often `needle` occurs in `haystack` (non-overlapping).
    static func occurrences(of needle: String, in haystack: String) -> Int {
        haystack.components(separatedBy: needle).count - 1
    }

    static func cidr(_ text: String) -> CIDRRange? { CIDRRange(parsing: text) }
}
