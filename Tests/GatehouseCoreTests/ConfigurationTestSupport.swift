import Foundation
@testable import GatehouseCore

/// Shared fixtures for the configuration tests: the conformance suite's YAML, a small
/// valid config, a scratch directory, and a loader call that returns its error.
enum ConfigurationFixtures {
    /// The file the conformance suite writes (shared/conformance/README.md), with `WORK` for its directory.
    static let conformanceYAML = """
        # written by the Gatehouse conformance smoke suite (shape: SPEC "Configuration")
        listen: "127.0.0.1:41010"
        admin_listen: "127.0.0.1:41011"
        trusted_proxies: ["198.51.100.7/32"]
        limits:
          max_header_bytes: 32768
          max_api_body_bytes: 10485760
          client_header_timeout_ms: 10000
          upstream_connect_timeout_ms: 2000
          upstream_response_timeout_ms: 60000
          idle_timeout_ms: 75000
        metering:
          dir: "WORK/meter"
          fsync: always
          flush_interval_ms: 50
        users:
          store: "sqlite:WORK/gatehouse.db"
        apps:
          - id: "app_smoke"
            org: "org_smoke"
            upstream: "http://127.0.0.1:41001"
            api:
              upstream: "http://127.0.0.1:41002"
              strip_prefix: true
              owner_key: "sk_smoke_owner_7f3a92"
            auth:
              mode: jwt
              jwks_url: "http://127.0.0.1:41003/.well-known/jwks.json"
              issuer: "https://login.smoke.example"
              audience: ["smoke-api"]
              authorized_parties: ["https://smoke-app.example"]
              clock_skew_s: 5
              api_keys:
                - name: "smoke-batch-job"
                  sha256: "cf1f1558398237442fa3e60d6a9516153d92653914a0a35fdc3141927af9647a"
                - name: "smoke-admin"
                  sha256: "2e83a48380d705dde127d6b7a27bd472ce5ae04becefd84540bda24a027ffc97"
                  admin: true
            policy:
              allow_emails: []
              allow_email_domains: []
              require_claims: {}
            quotas:
              user_requests_per_minute: 0
              org_requests_per_month: 0
            inject:
              enabled: "true"

        """

    /// A small valid config; `app` is the body of its one app (indented four spaces).
    static func minimal(top: String = "", app: String = "") -> String {
        """
        \(top)
        apps:
          - id: app_one
            org: org_one
            upstream: http://127.0.0.1:3000
            api:
              upstream: http://127.0.0.1:4000
              owner_key: sk_owner_one
            auth:
              mode: jwt
              jwks_url: http://127.0.0.1:5000/jwks.json
        \(app)
        """
    }

    static func sources(
        _ yaml: String?, environment: [String: String] = [:], flags: [String: String] = [:],
        workingDirectory: String = "/work-dir", allowDevOnNetwork: Bool = false
    ) -> ConfigurationSources {
        ConfigurationSources(yaml: yaml, yamlPath: yaml == nil ? nil : "gatehouse.yaml", environment: environment,
                             flags: flags, workingDirectory: workingDirectory, allowDevOnNetwork: allowDevOnNetwork)
    }

    /// The error loading `sources` throws, or `nil` when it loads.
    static func loadError(_ sources: ConfigurationSources) -> ConfigurationError? {
        do {
            _ = try ConfigurationLoader.load(sources)
            return nil
        } catch {
            return error
        }
    }
}

/// A fresh directory under the system temp dir, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "gatehouse-config-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `contents` to `name` inside the directory and returns its absolute path.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let file = path + "/" + name
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
