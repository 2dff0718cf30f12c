import Testing
@testable import GatehouseCore

/// The YAML file alone: the conformance shape, defaults, quoted scalars, and refusals.
@Suite struct ConfigurationLoaderTests {
    typealias F = ConfigurationFixtures

    @Test func conformanceShapeParsesToItsValues() throws {
        let yaml = F.conformanceYAML.replacingOccurrences(of: "WORK", with: "/tmp/smoke")
        let config = try ConfigurationLoader.load(F.sources(yaml))

        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 41010))
        #expect(config.adminListen == ListenAddress(host: "127.0.0.1", port: 41011))
        #expect(config.trustedProxies == [CIDRRange(parsing: "198.51.100.7/32")].compactMap { $0 })
        #expect(config.limits == LimitsConfiguration())
        #expect(config.metering.dir == "/tmp/smoke/meter")
        #expect(config.metering.fsync == .always)
        #expect(config.metering.flushIntervalMs == 50)
        #expect(config.metering.instance == "")
        #expect(config.users.store == "sqlite:/tmp/smoke/gatehouse.db")
        #expect(config.eventLoops == nil)

        let app = try #require(config.apps.first)
        #expect(config.apps.count == 1)
        #expect(app.id == "app_smoke")
        #expect(app.org == "org_smoke")
        #expect(app.hosts.isEmpty)
        #expect(app.upstream == UpstreamURL(scheme: .http, host: "127.0.0.1", port: 41001))
        #expect(app.api.upstream == UpstreamURL(scheme: .http, host: "127.0.0.1", port: 41002))
        #expect(app.api.prefix == "/_api")
        #expect(app.api.stripPrefix)
        #expect(app.api.ownerKey.value == "sk_smoke_owner_7f3a92")
        #expect(app.auth.mode == .jwt)
        #expect(app.auth.jwksURL == "http://127.0.0.1:41003/.well-known/jwks.json")
        #expect(app.auth.issuer == "https://login.smoke.example")
        #expect(app.auth.audience == ["smoke-api"])
        #expect(app.auth.authorizedParties == ["https://smoke-app.example"])
        #expect(app.auth.clockSkewS == 5)
        #expect(app.auth.apiKeys == [
            APIKeyConfiguration(name: "smoke-batch-job",
                                sha256: "cf1f1558398237442fa3e60d6a9516153d92653914a0a35fdc3141927af9647a"),
            APIKeyConfiguration(name: "smoke-admin",
                                sha256: "2e83a48380d705dde127d6b7a27bd472ce5ae04becefd84540bda24a027ffc97", admin: true),
        ])
        #expect(app.policy == PolicyConfiguration())
        #expect(app.quotas == QuotasConfiguration())
        #expect(app.inject.enabled)
    }

    @Test func leftOutKeysKeepTheDocumentedDefaults() throws {
        let config = try ConfigurationLoader.load(F.sources(F.minimal()))
        #expect(config.listen == ListenAddress(host: "0.0.0.0", port: 8080))
        #expect(config.adminListen == ListenAddress(host: "127.0.0.1", port: 9090))
        #expect(config.metering.dir == "/work-dir/meter")
        #expect(config.metering.fsync == .interval)
        #expect(config.users.store == "sqlite:/work-dir/gatehouse.db")
        #expect(config.drainTimeoutMs == 30_000)
        #expect(config.apps.first?.api.prefix == "/_api")
        #expect(config.apps.first?.inject.enabled == true)
    }

    @Test func quotedNumbersAndBooleansAndExtrasAreRead() throws {
        let yaml = F.minimal(top: """
            event_loops: "3"
            drain_timeout_ms: '5000'
            trusted_proxies: [10.0.0.1, "::1"]
            """, app: """
                hosts: [MyApp.Example.com]
                quotas: {user_requests_per_minute: "60"}
                inject: {enabled: "false"}
                policy:
                  require_claims: {org_role: admin}
            """)
        let config = try ConfigurationLoader.load(F.sources(yaml))
        #expect(config.eventLoops == 3)
        #expect(config.drainTimeoutMs == 5000)
        #expect(config.trustedProxies.map(\.prefixLength) == [32, 128])
        let app = try #require(config.apps.first)
        #expect(app.hosts == ["myapp.example.com"])
        #expect(app.quotas.userRequestsPerMinute == 60)
        #expect(app.inject.enabled == false)
        #expect(app.policy.requireClaims == ["org_role": "admin"])
    }

    @Test func apiSectionOptionsAreRead() throws {
        let yaml = F.minimal().replacingOccurrences(of: "      owner_key: sk_owner_one", with: """
                  owner_key: sk_owner_one
                  prefix: /v2/api/
                  strip_prefix: false
                  extra_headers: {X-Namespace: ns_1}
                  ca_file: certs/ca.pem
            """)
        let api = try #require(try ConfigurationLoader.load(F.sources(yaml)).apps.first?.api)
        #expect(api.prefix == "/v2/api")
        #expect(api.stripPrefix == false)
        #expect(api.extraHeaders == [HeaderField(name: "X-Namespace", value: "ns_1")])
        #expect(api.caFile == "/work-dir/certs/ca.pem")
    }

    @Test func unknownKeyIsNamed() {
        let error = F.loadError(F.sources(F.minimal(app: "    upstreem: http://x")))
        #expect(error?.code == .unknownKey)
        #expect(error?.field == "apps[0].upstreem")
        let top = F.loadError(F.sources(F.minimal(top: "limits: {max_header_byte: 10}")))
        #expect(top?.field == "limits.max_header_byte")
    }

    @Test func wrongTypeNamesTheField() {
        let list = F.loadError(F.sources(F.minimal(top: "listen: [a, b]")))
        #expect(list?.code == .wrongType)
        #expect(list?.field == "listen")
        let number = F.loadError(F.sources(F.minimal(top: "limits: {idle_timeout_ms: soon}")))
        #expect(number?.code == .wrongType)
        #expect(number?.field == "limits.idle_timeout_ms")
        let zero = F.loadError(F.sources(F.minimal(top: "limits: {idle_timeout_ms: 0}")))
        #expect(zero?.code == .invalidValue)
    }

    @Test func missingRequiredFieldsAreNamed() {
        let noOwner = F.minimal().replacingOccurrences(of: "      owner_key: sk_owner_one\n", with: "")
        #expect(F.loadError(F.sources(noOwner))?.field == "apps[0].api.owner_key")
        let noUpstream = F.minimal().replacingOccurrences(of: "    upstream: http://127.0.0.1:3000\n", with: "")
        let error = F.loadError(F.sources(noUpstream))
        #expect(error?.code == .missing)
        #expect(error?.field == "apps[0].upstream")
        #expect(error?.message.contains("GATEHOUSE_UPSTREAM") == true)
        #expect(F.loadError(F.sources("listen: 127.0.0.1:1\n"))?.field == "apps")
    }

    @Test func invalidYAMLIsOneLineNamingTheFile() {
        let error = F.loadError(F.sources("listen: [unclosed\napps: {"))
        #expect(error?.code == .invalidYAML)
        #expect(error?.field == "gatehouse.yaml")
        #expect(error?.description.contains("\n") == false)
        #expect(error?.description.hasPrefix("config: gatehouse.yaml: ") == true)
    }

    @Test func aliasBombIsRefused() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...6 {
            yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let error = F.loadError(F.sources(yaml))
        #expect(error?.code == .invalidYAML)
        #expect(error?.message.contains("too many values") == true)
    }
}
