import Testing
@testable import GatehouseCore

/// `${VAR}` and `${VAR:-default}` in YAML values (SPEC "Configuration").
@Suite struct EnvironmentExpansionTests {
    typealias F = ConfigurationFixtures

    @Test func variableAndDefaultAreExpandedInTheFile() throws {
        let yaml = F.minimal()
            .replacingOccurrences(of: "owner_key: sk_owner_one", with: "owner_key: \"${SMOKE_OWNER}\"")
            .replacingOccurrences(of: "org: org_one", with: "org: \"${SMOKE_ORG:-org_fallback}\"")
        let config = try ConfigurationLoader.load(F.sources(yaml, environment: ["SMOKE_OWNER": "sk_from_env_5150"]))
        #expect(config.apps.first?.api.ownerKey.value == "sk_from_env_5150")
        #expect(config.apps.first?.org == "org_fallback")
    }

    @Test func setVariableWinsOverDefault() throws {
        let yaml = F.minimal().replacingOccurrences(of: "org: org_one", with: "org: ${SMOKE_ORG:-org_fallback}")
        let config = try ConfigurationLoader.load(F.sources(yaml, environment: ["SMOKE_ORG": "org_env"]))
        #expect(config.apps.first?.org == "org_env")
    }

    @Test func valueWithYAMLSyntaxStaysOnePlainString() throws {
        // A claim value may hold line breaks; if expansion ran before parsing, `listen` would change.
        let injected = "a\nb: c\nlisten: 0.0.0.0:1"
        let claims = F.minimal(app: "    policy: {require_claims: {role: \"${ROLE}\"}}")
        let config = try ConfigurationLoader.load(F.sources(claims, environment: ["ROLE": injected]))
        #expect(config.apps.first?.policy.requireClaims == ["role": injected])
        #expect(config.listen.port == 8080)

        let owner = F.minimal().replacingOccurrences(of: "owner_key: sk_owner_one", with: "owner_key: ${OWNER}")
        let keyed = try ConfigurationLoader.load(F.sources(owner, environment: ["OWNER": "k: [v]"]))
        #expect(keyed.apps.first?.api.ownerKey.value == "k: [v]")
    }

    @Test func unsetVariableIsAnErrorNamingFieldAndVariable() {
        let yaml = F.minimal().replacingOccurrences(of: "owner_key: sk_owner_one", with: "owner_key: \"${MISSING_OWNER}\"")
        let error = F.loadError(F.sources(yaml))
        #expect(error?.code == .unsetVariable)
        #expect(error?.field == "apps[0].api.owner_key")
        #expect(error?.message.contains("MISSING_OWNER") == true)
    }

    @Test func textThatIsNotAReferenceIsLeftAsIs() throws {
        let env = ["A": "1"]
        func expand(_ text: String) throws -> String {
            try EnvironmentExpansion.expand(text, environment: env, field: "f")
        }
        #expect(try expand("$$") == "$$")
        #expect(try expand("$${A}") == "$${A}")
        #expect(try expand("cost $5 and $A") == "cost $5 and $A")
        #expect(try expand("${A") == "${A")
        #expect(try expand("${1A}") == "${1A}")
        #expect(try expand("x${A}y${A:-z}") == "x1y1")
        #expect(try expand("${EMPTY:-d}") == "d")
        #expect(try EnvironmentExpansion.expand("${E:-d}", environment: ["E": ""], field: "f") == "d")
        #expect(try EnvironmentExpansion.expand("[${E}]", environment: ["E": ""], field: "f") == "[]")
    }

    @Test func environmentSettingsAreNotExpanded() throws {
        let config = try ConfigurationLoader.load(F.sources(F.minimal(), environment: [
            "GATEHOUSE_OWNER_KEY": "sk_${NOT_A_REF}", "NOT_A_REF": "oops",
        ]))
        #expect(config.apps.first?.api.ownerKey.value == "sk_${NOT_A_REF}")
    }
}
