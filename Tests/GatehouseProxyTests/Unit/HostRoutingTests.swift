import GatehouseAuth
import GatehouseCore
@testable import GatehouseProxy
import Testing

/// `Host` → app over bytes (``ProxyRuntime/app(forHost:)``) against the `Substring`
/// lookup it replaced, kept here as the model.
@Suite struct HostRoutingTests {
    private static func app(_ id: String, hosts: [String], index: Int) throws -> AppRuntime {
        var config = AppConfiguration(
            id: id, org: "org", upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: 9),
            api: APIConfiguration(upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: 9), ownerKey: Secret("sk_owner")),
            auth: AuthConfiguration()
        )
        config.hosts = hosts
        return try AppRuntime(config: config, index: index, keySource: nil, devIssuer: nil)
    }

    @Test func hostsRouteAsTheTextLookupDid() throws {
        let tables: [[[String]]] = [
            [["app.example.com", "WWW.Example.com"], ["[::1]", "127.0.0.1", "\u{c4}pp.example"], []],
            [["a.test"], ["b.test"]],
        ]
        let requests = [
            "app.example.com", "APP.example.com", "app.example.com:8443", "App.Example.Com:80", "www.example.com", "www.example.com:",
            "[::1]", "[::1]:8080", "[::1", "[::1]x", "127.0.0.1", "127.0.0.1:9", "\u{c4}pp.example", "\u{e4}PP.example:1",
            "\u{e4}pp.example", "other.test", "", ":", "a.test", "A.TEST:443", "b.test:1:2", "a.test.", "b.test ",
        ]
        var checked = 0
        for table in tables {
            let apps = try table.enumerated().map { try Self.app("app\($0.offset)", hosts: $0.element, index: $0.offset) }
            let runtime = ProxyRuntime(apps: apps)
            for host in requests + [nil] {
                #expect(runtime.app(forHost: host)?.index == Self.reference(table, host), "\(host ?? "nil")")
                checked += 1
            }
        }
        #expect(checked == (requests.count + 1) * 2)
    }

    /// The lookup as it was written over `Substring`s.
    private static func reference(_ table: [[String]], _ host: String?) -> Int? {
        var byHost: [String: Int] = [:]
        var defaultApp: Int?
        for (index, hosts) in table.enumerated() {
            if hosts.isEmpty { defaultApp = index }
            for host in hosts { byHost[host.lowercased()] = index }
        }
        if let host, !byHost.isEmpty {
            var name = Substring(host)
            if name.hasPrefix("[") {
                if let close = name.firstIndex(of: "]") { name = name[...close] }
            } else if let colon = name.lastIndex(of: ":") {
                name = name[..<colon]
            }
            if let index = byHost[name.lowercased()] { return index }
        }
        return defaultApp
    }
}
