import Testing
import Yams
@testable import GatehouseCore

/// `gatehouse check` output: valid YAML, ids and hashes shown, secrets masked.
@Suite struct ConfigurationPrinterTests {
    typealias F = ConfigurationFixtures

    private static let yaml = F.minimal(top: "users: {store: \"postgres://gate:pg-pass-4242@db.internal:5432/gh?sslmode=require\"}",
                                        app: """
                  secret_key: sk_live_clerk_secret_9911
                  api_keys: [{name: job, sha256: \(String(repeating: "c", count: 64)), admin: true}]
                  audience: ["123", "true"]
                  jwt_key: |
                    -----BEGIN PUBLIC KEY-----
                    MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
                    -----END PUBLIC KEY-----
                hosts: [app.example, "8080.example"]
                policy: {require_claims: {b: "2", a: x}, allow_email_domains: [example.com]}
            """).replacingOccurrences(of: "sk_owner_one", with: "sk_owner_secret_7f3a")

    @Test func secretsAreMaskedAndTheRestShown() throws {
        let output = ConfigurationPrinter.yaml(try ConfigurationLoader.load(F.sources(Self.yaml)))
        #expect(!output.contains("sk_owner_secret_7f3a"))
        #expect(!output.contains("sk_live_clerk_secret_9911"))
        #expect(!output.contains("pg-pass-4242"))
        #expect(output.contains("app_one"))
        #expect(output.contains(String(repeating: "c", count: 64)))
        #expect(output.contains("postgres://gate:***@db.internal:5432/gh?sslmode=require"))
    }

    @Test func outputIsYAMLWithTheFileShape() throws {
        let output = ConfigurationPrinter.yaml(try ConfigurationLoader.load(F.sources(Self.yaml)))
        let parsed = try #require(try Yams.load(yaml: output) as? [String: Any])
        #expect(parsed["listen"] as? String == "0.0.0.0:8080")
        let apps = try #require(parsed["apps"] as? [[String: Any]])
        #expect(apps.first?["id"] as? String == "app_one")
        let api = try #require(apps.first?["api"] as? [String: Any])
        #expect(api["owner_key"] as? String == "***")
        let auth = try #require(apps.first?["auth"] as? [String: Any])
        #expect(auth["secret_key"] as? String == "***")
        #expect(auth["clock_skew_s"] as? Int == 5)
    }

    @Test func outputLoadsBackToTheSameConfigurationApartFromSecrets() throws {
        let original = try ConfigurationLoader.load(F.sources(Self.yaml))
        var reloaded = try ConfigurationLoader.load(F.sources(ConfigurationPrinter.yaml(original)))
        #expect(reloaded.apps.first?.api.ownerKey.value == "***")
        reloaded.apps[0].api.ownerKey = original.apps[0].api.ownerKey
        reloaded.apps[0].auth.secretKey = original.apps[0].auth.secretKey
        reloaded.users.store = original.users.store
        #expect(reloaded == original)
    }

    @Test func postgresPasswordMasking() {
        #expect(ConfigurationPrinter.maskingPassword(inStore: "postgres://u:p@h/db") == "postgres://u:***@h/db")
        #expect(ConfigurationPrinter.maskingPassword(inStore: "postgresql://u@h/db?password=x&a=b")
                == "postgresql://u@h/db?password=***&a=b")
        #expect(ConfigurationPrinter.maskingPassword(inStore: "sqlite:/tmp/g.db") == "sqlite:/tmp/g.db")
    }
}
