import Testing
@testable import GatehouseCore

/// Single-app `GATEHOUSE_*` / `CLERK_*` settings and flags over the file (flags > env > file).
@Suite struct EnvironmentOverlayTests {
    typealias F = ConfigurationFixtures

    static let sidecarEnvironment = [
        "GATEHOUSE_UPSTREAM": "http://127.0.0.1:3000",
        "GATEHOUSE_API_UPSTREAM": "https://api.example.com/base",
        "GATEHOUSE_OWNER_KEY": "sk_env_owner",
        "GATEHOUSE_JWKS_URL": "https://issuer.example/jwks.json",
    ]

    @Test func flagsBeatEnvironmentWhichBeatsTheFile() throws {
        let yaml = F.minimal(top: "listen: 127.0.0.1:1111\nadmin_listen: 127.0.0.1:2222\nevent_loops: 2")
        let config = try ConfigurationLoader.load(F.sources(
            yaml,
            environment: ["GATEHOUSE_LISTEN": "127.0.0.1:3333", "GATEHOUSE_ADMIN_LISTEN": "127.0.0.1:4444"],
            flags: ["GATEHOUSE_LISTEN": "127.0.0.1:5555"]))
        #expect(config.listen.port == 5555)       // flag over env over file
        #expect(config.adminListen.port == 4444)  // env over file
        #expect(config.eventLoops == 2)           // file alone
    }

    @Test func appLevelVariablesOverrideTheFilesOnlyApp() throws {
        let config = try ConfigurationLoader.load(F.sources(F.minimal(), environment: [
            "GATEHOUSE_ORG": "org_env", "GATEHOUSE_AUDIENCE": "a, b,,c", "GATEHOUSE_OWNER_KEY": "sk_env",
        ]))
        let app = try #require(config.apps.first)
        #expect(app.id == "app_one")
        #expect(app.org == "org_env")
        #expect(app.auth.audience == ["a", "b", "c"])
        #expect(app.api.ownerKey.value == "sk_env")
    }

    @Test func variablesAloneBuildOneApp() throws {
        var environment = Self.sidecarEnvironment
        environment["GATEHOUSE_METER_DIR"] = "meter-env"
        environment["GATEHOUSE_AUTHORIZED_PARTIES"] = "https://app.example"
        let config = try ConfigurationLoader.load(F.sources(nil, environment: environment))
        let app = try #require(config.apps.first)
        #expect(config.apps.count == 1)
        #expect(app.id == "app_default")
        #expect(app.org == "org_default")
        #expect(app.hosts.isEmpty)
        #expect(app.upstream == UpstreamURL(scheme: .http, host: "127.0.0.1", port: 3000))
        #expect(app.api.upstream == UpstreamURL(scheme: .https, host: "api.example.com", port: 443, basePath: "/base"))
        #expect(app.api.ownerKey.value == "sk_env_owner")
        #expect(app.auth.mode == .jwt)
        #expect(app.auth.authorizedParties == ["https://app.example"])
        #expect(config.metering.dir == "/work-dir/meter-env")
    }

    @Test func clerkVariablesSelectClerkMode() throws {
        var environment = Self.sidecarEnvironment
        environment["GATEHOUSE_JWKS_URL"] = nil
        environment["CLERK_PUBLISHABLE_KEY"] = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k"
        environment["CLERK_SECRET_KEY"] = "sk_test_clerk"
        let config = try ConfigurationLoader.load(F.sources(nil, environment: environment))
        let auth = try #require(config.apps.first?.auth)
        #expect(auth.mode == .clerk)
        #expect(auth.publishableKey == "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k")
        #expect(auth.secretKey?.value == "sk_test_clerk")
        // An explicit mode is kept.
        environment["GATEHOUSE_AUTH_MODE"] = "jwt"
        environment["CLERK_JWKS_URI"] = "https://clerk.example/jwks"
        let explicit = try ConfigurationLoader.load(F.sources(nil, environment: environment))
        #expect(explicit.apps.first?.auth.mode == .jwt)
        #expect(explicit.apps.first?.auth.jwksURL == "https://clerk.example/jwks")
    }

    @Test func appLevelVariableWithTwoAppsIsAnErrorNamingIt() {
        let yaml = F.minimal(app: """
                hosts: [one.example]
              - id: app_two
                org: org_two
                upstream: http://127.0.0.1:3001
                api: {upstream: http://127.0.0.1:4001, owner_key: sk_two}
                auth: {mode: none}
            """)
        #expect(F.loadError(F.sources(yaml)) == nil)
        let error = F.loadError(F.sources(yaml, environment: ["GATEHOUSE_ISSUER": "https://issuer.example"]))
        #expect(error?.code == .conflict)
        #expect(error?.field == "GATEHOUSE_ISSUER")
        // Top-level variables still apply to a multi-app file.
        #expect(F.loadError(F.sources(yaml, environment: ["GATEHOUSE_LISTEN": "127.0.0.1:1"])) == nil)
    }

    @Test func badValueFromVariableOrFlagIsNamedAsSuch() {
        let env = F.loadError(F.sources(F.minimal(), environment: ["GATEHOUSE_LISTEN": "nope"]))
        #expect(env?.field == "GATEHOUSE_LISTEN")
        let flag = F.loadError(F.sources(F.minimal(), flags: ["GATEHOUSE_API_UPSTREAM": "ftp://x"]))
        #expect(flag?.field == "--api-upstream")
        let unknown = F.loadError(F.sources(F.minimal(), flags: ["GATEHOUSE_NOPE": "1"]))
        #expect(unknown?.code == .unknownKey)
    }

    @Test func inlineVariableReplacesTheFilesKeyFileAndOwnerKeyBothSetIsAnError() throws {
        let yaml = F.minimal().replacingOccurrences(of: "owner_key: sk_owner_one", with: "owner_key_file: /nonexistent")
        let config = try ConfigurationLoader.load(F.sources(yaml, environment: ["GATEHOUSE_OWNER_KEY": "sk_env"]))
        #expect(config.apps.first?.api.ownerKey.value == "sk_env")
        let error = F.loadError(F.sources(yaml, environment: [
            "GATEHOUSE_OWNER_KEY": "sk_env", "GATEHOUSE_OWNER_KEY_FILE": "/nonexistent",
        ]))
        #expect(error?.code == .conflict)
    }

    @Test func emptyVariablesCountAsUnset() throws {
        let config = try ConfigurationLoader.load(F.sources(F.minimal(), environment: ["GATEHOUSE_ORG": ""]))
        #expect(config.apps.first?.org == "org_one")
    }
}

extension EnvironmentOverlayTests {
    @Test func fileSectionOfTheWrongShapeIsStillReported() {
        let yaml = F.minimal().replacingOccurrences(of: "    auth:\n      mode: jwt\n      jwks_url: http://127.0.0.1:5000/jwks.json\n",
                                                    with: "    auth: jwt\n")
        let error = F.loadError(F.sources(yaml, environment: ["GATEHOUSE_ISSUER": "https://issuer.example"]))
        #expect(error?.code == .wrongType)
        #expect(error?.field == "apps[0].auth")
    }
}
