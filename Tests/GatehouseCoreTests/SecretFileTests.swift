import Testing
@testable import GatehouseCore

/// `<secret>_file: PATH` (Docker/Kubernetes secrets), read from real files.
@Suite struct SecretFileTests {
    typealias F = ConfigurationFixtures

    private func yaml(ownerKeyLine: String) -> String {
        F.minimal().replacingOccurrences(of: "owner_key: sk_owner_one", with: ownerKeyLine)
    }

    @Test func fileIsReadAndOneTrailingNewlineStripped() throws {
        let dir = try TemporaryDirectory()
        try dir.write("owner.txt", "sk_file_owner\n")
        try dir.write("secret.txt", "sk_clerk_secret\r\n")
        try dir.write("store.txt", "postgres://u:p@db/gh\n\n")
        let text = yaml(ownerKeyLine: "owner_key_file: owner.txt")
            .replacingOccurrences(of: "    auth:\n", with: "    auth:\n      secret_key_file: \(dir.path)/secret.txt\n")
            + "users: {store_file: ./store.txt}\n"
        let config = try ConfigurationLoader.load(F.sources(text, workingDirectory: dir.path))
        #expect(config.apps.first?.api.ownerKey.value == "sk_file_owner")
        #expect(config.apps.first?.auth.secretKey?.value == "sk_clerk_secret")
        // Exactly one newline goes; a second one is part of the value.
        #expect(config.users.store == "postgres://u:p@db/gh\n")
    }

    @Test func stripsExactlyOneNewline() {
        #expect(ConfigurationFiles.stripOneTrailingNewline("k\n") == "k")
        #expect(ConfigurationFiles.stripOneTrailingNewline("k\r\n") == "k")
        #expect(ConfigurationFiles.stripOneTrailingNewline("k\n\n") == "k\n")
        #expect(ConfigurationFiles.stripOneTrailingNewline("k\r") == "k\r")
        #expect(ConfigurationFiles.stripOneTrailingNewline("k") == "k")
    }

    @Test func missingFileIsAnErrorNamingThePath() throws {
        let dir = try TemporaryDirectory()
        let error = F.loadError(F.sources(yaml(ownerKeyLine: "owner_key_file: secrets/smoke-owner-key.txt"),
                                          workingDirectory: dir.path))
        #expect(error?.code == .unreadableFile)
        #expect(error?.field == "apps[0].api.owner_key_file")
        #expect(error?.message.contains("\(dir.path)/secrets/smoke-owner-key.txt") == true)
        #expect(error?.description.contains("\n") == false)
    }

    @Test func keyAndKeyFileTogetherAreAnError() throws {
        let dir = try TemporaryDirectory()
        try dir.write("owner.txt", "sk_file_owner\n")
        let text = yaml(ownerKeyLine: "owner_key: sk_inline\n      owner_key_file: owner.txt")
        let error = F.loadError(F.sources(text, workingDirectory: dir.path))
        #expect(error?.code == .conflict)
        #expect(error?.field == "apps[0].api.owner_key_file")
        #expect(error?.description.contains("sk_inline") == false)
    }

    @Test func ownerKeyFileFromTheEnvironment() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("owner.txt", "sk_env_file\n")
        let config = try ConfigurationLoader.load(F.sources(F.minimal(), environment: ["GATEHOUSE_OWNER_KEY_FILE": path]))
        #expect(config.apps.first?.api.ownerKey.value == "sk_env_file")
        let error = F.loadError(F.sources(F.minimal(), environment: ["GATEHOUSE_OWNER_KEY_FILE": dir.path + "/nope"]))
        #expect(error?.field == "GATEHOUSE_OWNER_KEY_FILE")
    }
}

/// `--config FILE` read through ``ConfigurationSources/readYAMLFile(atPath:)``.
@Suite struct ConfigurationFileTests {
    @Test func configFileIsReadRelativeToTheWorkingDirectory() throws {
        let dir = try TemporaryDirectory()
        try dir.write("gatehouse.yaml", ConfigurationFixtures.minimal(top: "listen: 127.0.0.1:7000"))
        var sources = ConfigurationSources(workingDirectory: dir.path)
        try sources.readYAMLFile(atPath: "gatehouse.yaml")
        #expect(sources.yamlPath == "gatehouse.yaml")
        #expect(try ConfigurationLoader.load(sources).listen.port == 7000)
    }

    @Test func missingConfigFileIsNamed() throws {
        let dir = try TemporaryDirectory()
        var sources = ConfigurationSources(workingDirectory: dir.path)
        let error: ConfigurationError?
        do {
            try sources.readYAMLFile(atPath: "absent.yaml")
            error = nil
        } catch let thrown {
            error = thrown
        }
        #expect(error?.code == .unreadableFile)
        #expect(error?.field == "absent.yaml")
        #expect(error?.message.contains(dir.path + "/absent.yaml") == true)
    }
}
