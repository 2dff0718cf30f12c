import Foundation
import Testing
import Yams
@testable import GatehouseCore

/// ``ConfigurationSchema`` is the one list of keys: the loader accepts exactly these
/// (its per-mapping lists derive from it), each one changes the loaded configuration (none
/// is accepted and then ignored), and the README's reference is its rendering.
@Suite struct ConfigurationSchemaTests {
    /// A sample value per key, and the base keys it replaces (a `*_file` and its inline
    /// twin cannot both be set). Adding a key to the schema without a sample fails below.
    static func samples(files: URL) throws -> [String: (value: Any, removing: [String])] {
        func file(_ name: String, _ text: String) throws -> String {
            let url = files.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let pk = "pk_test_" + Data("clerk.example.com$".utf8).base64EncodedString()
        return [
            "listen": ("127.0.0.1:7001", []),
            "admin_listen": ("127.0.0.1:7002", []),
            "event_loops": (3, []),
            "trusted_proxies": (["10.0.0.0/8"], []),
            "drain_timeout_ms": (1234, []),
            "limits.max_header_bytes": (4096, []),
            "limits.max_api_body_bytes": (2048, []),
            "limits.client_header_timeout_ms": (1500, []),
            "limits.upstream_connect_timeout_ms": (900, []),
            "limits.upstream_response_timeout_ms": (1700, []),
            "limits.idle_timeout_ms": (1800, []),
            "metering.dir": ("/var/meter", []),
            "metering.fsync": ("always", []),
            "metering.flush_interval_ms": (50, []),
            "metering.instance": ("replica-a", []),
            "users.store": ("sqlite:/var/users.db", []),
            "users.store_file": (try file("store", "sqlite:/var/other.db\n"), []),
            "access_log.enabled": (true, []),
            "access_log.sample_percent": (10, []),
            "apps[].id": ("app_two", []),
            "apps[].org": ("org_two", []),
            "apps[].hosts": (["a.example"], []),
            "apps[].upstream": ("http://127.0.0.1:3999", []),
            "apps[].api.upstream": ("http://127.0.0.1:4999", []),
            "apps[].api.prefix": ("/api2", []),
            "apps[].api.strip_prefix": (false, []),
            "apps[].api.extra_headers": (["X-Namespace": "ns_1"], []),
            "apps[].api.owner_key": ("sk_owner_other", []),
            "apps[].api.owner_key_file": (try file("owner", "sk_owner_from_file\n"), ["apps[].api.owner_key"]),
            "apps[].api.ca_file": (try file("ca.pem", "-----BEGIN CERTIFICATE-----\n"), []),
            "apps[].auth.mode": ("none", ["apps[].auth.jwks_url"]),
            "apps[].auth.publishable_key": (pk, []),
            "apps[].auth.publishable_key_file": (try file("pk", pk + "\n"), []),
            "apps[].auth.secret_key": ("sk_test_secret", []),
            "apps[].auth.secret_key_file": (try file("sk", "sk_test_from_file\n"), []),
            "apps[].auth.jwks_url": ("http://127.0.0.1:5999/jwks.json", []),
            "apps[].auth.jwt_key": ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", []),
            "apps[].auth.jwt_key_file": (try file("jwt.pem", "-----BEGIN PUBLIC KEY-----\nBBBB\n-----END PUBLIC KEY-----\n"), []),
            "apps[].auth.dev_key_file": (try file("dev.pem", "pem"), []),
            "apps[].auth.issuer": ("https://issuer.example", []),
            "apps[].auth.audience": (["convex"], []),
            "apps[].auth.authorized_parties": (["https://app.example"], []),
            "apps[].auth.clock_skew_s": (9, []),
            "apps[].auth.allowed_providers": (["google"], []),
            "apps[].auth.clerk_allowed_providers": (["github"], []),
            "apps[].auth.clerk_js_url": ("https://cdn.example/clerk.js", []),
            "apps[].auth.clerk_api_url": ("https://clerk-api.example", []),
            "apps[].auth.api_keys[].name": ("renamed", []),
            "apps[].auth.api_keys[].sha256": (String(repeating: "b", count: 64), []),
            "apps[].auth.api_keys[].admin": (true, []),
            "apps[].policy.allow_emails": (["a@example.com"], []),
            "apps[].policy.allow_email_domains": (["example.com"], []),
            "apps[].policy.require_claims": (["org_role": "admin"], []),
            "apps[].quotas.user_requests_per_minute": (5, []),
            "apps[].quotas.org_requests_per_month": (100, []),
            "apps[].inject.enabled": (false, []),
        ]
    }

    static func base() -> [String: Any] {
        [
            "apps": [[
                "id": "app_one", "org": "org_one", "upstream": "http://127.0.0.1:3000",
                "api": ["upstream": "http://127.0.0.1:4000", "owner_key": "sk_owner_one"] as [String: Any],
                "auth": [
                    "mode": "jwt", "jwks_url": "http://127.0.0.1:5000/jwks.json",
                    "api_keys": [["name": "ingest", "sha256": String(repeating: "a", count: 64)]],
                ] as [String: Any],
            ] as [String: Any]],
        ]
    }

    /// Sets (or with `nil` removes) the value at a schema path; `name[]` steps into the
    /// list's first mapping.
    static func set(_ value: Any?, at path: [Substring], in tree: [String: Any]) -> [String: Any] {
        var tree = tree
        guard let first = path.first else { return tree }
        if first.hasSuffix("[]") {
            let name = String(first.dropLast(2))
            var list = tree[name] as? [[String: Any]] ?? [[:]]
            list[0] = set(value, at: Array(path.dropFirst()), in: list[0])
            tree[name] = list
        } else if path.count == 1 {
            tree[String(first)] = value
        } else {
            tree[String(first)] = set(value, at: Array(path.dropFirst()), in: tree[String(first)] as? [String: Any] ?? [:])
        }
        return tree
    }

    static func load(_ tree: [String: Any]) throws -> GatehouseConfiguration {
        let yaml = try Yams.dump(object: tree)
        return try ConfigurationLoader.load(ConfigurationSources(
            yaml: yaml, yamlPath: "gatehouse.yaml", environment: [:], flags: [:], workingDirectory: "/srv", allowDevOnNetwork: false))
    }

    @Test func everyKeyIsAcceptedAndChangesTheConfiguration() throws {
        let files = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: files) }
        let samples = try Self.samples(files: files)
        #expect(Set(samples.keys) == Set(ConfigurationSchema.keys.map(\.path)), "every schema key has a sample, and only those")

        let baseline = try Self.load(Self.base())
        for key in ConfigurationSchema.keys {
            guard let sample = samples[key.path] else { continue }
            var tree = Self.base()
            for removed in sample.removing { tree = Self.set(nil, at: removed.split(separator: "."), in: tree) }
            tree = Self.set(sample.value, at: key.path.split(separator: "."), in: tree)
            do {
                let loaded = try Self.load(tree)
                #expect(loaded != baseline, "\(key.path) was accepted but changed nothing")
            } catch {
                Issue.record("\(key.path): \(error)")
            }
        }
    }

    @Test func keysOutsideTheSchemaAreRefusedInEveryMapping() throws {
        for parent in ["", "limits", "metering", "users", "access_log", "apps[]", "apps[].api", "apps[].auth",
                       "apps[].auth.api_keys[]", "apps[].policy", "apps[].quotas", "apps[].inject"] {
            let path: [Substring] = (parent.isEmpty ? [] : parent.split(separator: ".")) + ["not_a_key"]
            let tree = Self.set(1, at: path, in: Self.base())
            #expect(throws: ConfigurationError.self, "\(parent).not_a_key") { try Self.load(tree) }
        }
    }

    @Test func readmeReferenceIsTheRenderedSchema() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let begin = "<!-- config-reference:begin (generated by `gatehouse config-reference`; a test checks it) -->\n"
        let end = "<!-- config-reference:end -->"
        let start = try #require(readme.range(of: begin), "README has the reference markers")
        let stop = try #require(readme.range(of: end, range: start.upperBound..<readme.endIndex))
        #expect(String(readme[start.upperBound..<stop.lowerBound]) == ConfigurationSchema.markdownReference(),
                "README's configuration reference is stale: run scripts/update-config-reference.sh")
    }

    @Test func environmentVariablesAreDocumentedOnTheirKeys() {
        let documented = ConfigurationSchema.keys.flatMap { ConfigurationSchema.environmentVariables(for: $0.path) }
        #expect(Set(documented) == Set(ConfigurationSchema.environmentVariableNames), "every variable sets a schema key")
    }
}
