import Testing
@testable import GatehouseCore

/// Values the loader refuses, each naming the field at fault.
@Suite struct ConfigurationValidationTests {
    typealias F = ConfigurationFixtures

    private func error(_ yaml: String, allowDev: Bool = false) -> ConfigurationError? {
        F.loadError(F.sources(yaml, allowDevOnNetwork: allowDev))
    }

    private func replacing(_ old: String, _ new: String) -> String {
        F.minimal().replacingOccurrences(of: old, with: new)
    }

    private static let secondApp = """
          - id: app_two
            org: org_two
            upstream: http://127.0.0.1:3001
            api: {upstream: http://127.0.0.1:4001, owner_key: sk_two}
            auth: {mode: none}
        """

    @Test func badListen() {
        let e = error(F.minimal(top: "listen: localhost"))
        #expect(e?.field == "listen")
        #expect(e?.code == .invalidValue)
        #expect(error(F.minimal(top: "admin_listen: 127.0.0.1:99999"))?.field == "admin_listen")
    }

    @Test func badUpstreams() {
        #expect(error(replacing("upstream: http://127.0.0.1:3000", "upstream: 127.0.0.1:3000"))?.field == "apps[0].upstream")
        #expect(error(replacing("upstream: http://127.0.0.1:4000", "upstream: http://user@host"))?.field == "apps[0].api.upstream")
    }

    /// Framing is Gatehouse's: a static `Content-Length` or `Transfer-Encoding` for the API
    /// upstream would be sent beside the one it writes for the body (two framings).
    @Test func extraHeadersCannotFrameTheBody() {
        for name in ["Content-Length", "transfer-encoding", "TRANSFER-ENCODING"] {
            let e = error(replacing("owner_key: sk_owner_one", "owner_key: sk_owner_one\n      extra_headers: {\(name): \"5\"}"))
            #expect(e?.field == "apps[0].api.extra_headers.\(name)")
            #expect(e?.code == .invalidValue)
        }
        #expect(error(replacing("owner_key: sk_owner_one", "owner_key: sk_owner_one\n      extra_headers: {X-Length: \"5\"}")) == nil)
    }

    @Test func badFsync() {
        let e = error(F.minimal(top: "metering: {fsync: sometimes}"))
        #expect(e?.field == "metering.fsync")
        #expect(e?.code == .invalidValue)
    }

    @Test func badSHA256AndItIsLowercased() throws {
        let good = F.minimal(app: "      api_keys: [{name: job, sha256: \(String(repeating: "AB", count: 32))}]")
        let config = try ConfigurationLoader.load(F.sources(good))
        #expect(config.apps.first?.auth.apiKeys.first?.sha256 == String(repeating: "ab", count: 32))
        let short = F.minimal(app: "      api_keys: [{name: job, sha256: abc123}]")
        #expect(error(short)?.field == "apps[0].auth.api_keys[0].sha256")
        let duplicate = F.minimal(app: """
                  api_keys:
                    - {name: job, sha256: \(String(repeating: "a", count: 64))}
                    - {name: job, sha256: \(String(repeating: "b", count: 64))}
            """)
        #expect(error(duplicate)?.field == "apps[0].auth.api_keys[1].name")
    }

    @Test func duplicateAppID() {
        let yaml = F.minimal(app: "    hosts: [one.example]\n" + Self.secondApp.replacingOccurrences(of: "app_two", with: "app_one"))
        let e = error(yaml)
        #expect(e?.code == .conflict)
        #expect(e?.field == "apps[1].id")
    }

    @Test func twoDefaultApps() {
        let e = error(F.minimal(app: Self.secondApp))
        #expect(e?.code == .conflict)
        #expect(e?.field == "apps[1].hosts")
        #expect(error(F.minimal(app: "    hosts: [one.example]\n" + Self.secondApp)) == nil)
    }

    @Test func sameHostOnTwoApps() {
        let yaml = F.minimal(app: "    hosts: [one.example]\n" + Self.secondApp + "\n    hosts: [ONE.example]")
        #expect(error(yaml)?.field == "apps[1].hosts")
    }

    @Test func unsafeOrgAndEmptyID() {
        #expect(error(replacing("org: org_one", "org: ../etc"))?.field == "apps[0].org")
        #expect(error(replacing("org: org_one", "org: \"..\""))?.field == "apps[0].org")
        #expect(error(replacing("id: app_one", "id: \"\""))?.field == "apps[0].id")
    }

    @Test func badPrefixAndMode() {
        #expect(error(replacing("owner_key: sk_owner_one", "owner_key: k\n      prefix: /"))?.field == "apps[0].api.prefix")
        #expect(error(replacing("owner_key: sk_owner_one", "owner_key: k\n      prefix: api"))?.field == "apps[0].api.prefix")
        #expect(error(replacing("mode: jwt", "mode: oauth"))?.field == "apps[0].auth.mode")
    }

    @Test func authModesNeedTheirKeySource() {
        let noJWKS = replacing("      jwks_url: http://127.0.0.1:5000/jwks.json\n", "")
        #expect(error(noJWKS)?.field == "apps[0].auth.jwks_url")
        let clerk = noJWKS.replacingOccurrences(of: "mode: jwt", with: "mode: clerk")
        #expect(error(clerk)?.field == "apps[0].auth.publishable_key")
        let badKey = clerk.replacingOccurrences(of: "mode: clerk", with: "mode: clerk\n      publishable_key: sk_live_x")
        #expect(error(badKey)?.field == "apps[0].auth.publishable_key")
        let goodKey = clerk.replacingOccurrences(of: "mode: clerk", with: "mode: clerk\n      publishable_key: pk_live_x")
        #expect(error(goodKey) == nil)
    }

    @Test func devModeOnNetworkNeedsTheFlag() {
        let dev = replacing("mode: jwt", "mode: dev")
        let refused = error(dev)
        #expect(refused?.field == "listen")
        #expect(refused?.message.contains("--allow-dev-on-network") == true)
        #expect(error(dev, allowDev: true) == nil)
        #expect(error(F.minimal(top: "listen: 127.0.0.1:8080").replacingOccurrences(of: "mode: jwt", with: "mode: dev")) == nil)
    }

    @Test func negativeSkewAndQuota() {
        #expect(error(F.minimal(app: "      clock_skew_s: -1"))?.field == "apps[0].auth.clock_skew_s")
        #expect(error(F.minimal(app: "    quotas: {org_requests_per_month: -5}"))?.field == "apps[0].quotas.org_requests_per_month")
    }

    @Test func badUsersStoreAndHeader() {
        #expect(error(F.minimal(top: "users: {store: mysql://x}"))?.field == "users.store")
        let header = replacing("owner_key: sk_owner_one", "owner_key: k\n      extra_headers: {\"Bad Name\": x}")
        #expect(error(header)?.field == "apps[0].api.extra_headers.Bad Name")
    }
}
