import Foundation
import GatehouseAuth
import GatehouseTesting
import Testing

/// The `gatehouse` binary as users run it (SPEC "Command line"): bad input is one line
/// on stderr naming the field or file, exit status 2, nothing started.
@Suite struct CommandLineTests {
    static func tempDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static let config = """
        listen: "127.0.0.1:0"
        admin_listen: "127.0.0.1:0"
        apps:
          - id: app_cli
            org: org_cli
            upstream: http://127.0.0.1:1
            api:
              upstream: http://127.0.0.1:2
              owner_key: "sk_cli_owner_secret_91"
            auth:
              mode: jwt
              jwks_url: http://127.0.0.1:3/.well-known/jwks.json
        """

    static func write(_ text: String, in dir: URL, as name: String = "gatehouse.yaml") throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    static func expectOneLineExit2(_ run: CLIRun, naming: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.status == 2, "exit \(run.status): \(run.stderr)", sourceLocation: sourceLocation)
        #expect(run.stderrLines.count == 1, "\(run.stderrLines)", sourceLocation: sourceLocation)
        #expect(run.stderr.contains(naming), "\(run.stderr)", sourceLocation: sourceLocation)
    }

    @Test func unknownFlagIsOneLineAndExit2() async throws {
        Self.expectOneLineExit2(try await CLIRun.run(["serve", "--no-such-flag"]), naming: "no-such-flag")
    }

    @Test func unknownConfigKeyNamesTheKey() async throws {
        let dir = try Self.tempDirectory()
        let path = try Self.write(Self.config + "\ntypo_key: 1\n", in: dir)
        Self.expectOneLineExit2(try await CLIRun.run(["serve", "--config", path]), naming: "typo_key")
    }

    @Test func missingConfigFileNamesTheFile() async throws {
        Self.expectOneLineExit2(try await CLIRun.run(["serve", "--config", "/nonexistent/gh-missing.yaml"]), naming: "gh-missing.yaml")
    }

    @Test func badListenFlagNamesTheFlag() async throws {
        let dir = try Self.tempDirectory()
        let path = try Self.write(Self.config, in: dir)
        Self.expectOneLineExit2(try await CLIRun.run(["serve", "--config", path, "--listen", "not-an-address"]), naming: "listen")
    }

    @Test func devModeRefusesANetworkAddressWithoutTheFlag() async throws {
        let run = try await CLIRun.run(["check"], environment: [
            "GATEHOUSE_LISTEN": "0.0.0.0:8080", "GATEHOUSE_UPSTREAM": "http://127.0.0.1:1", "GATEHOUSE_API_UPSTREAM": "http://127.0.0.1:2",
            "GATEHOUSE_OWNER_KEY": "sk_x", "GATEHOUSE_AUTH_MODE": "dev",
        ])
        Self.expectOneLineExit2(run, naming: "allow-dev-on-network")
        let allowed = try await CLIRun.run(["check", "--allow-dev-on-network"], environment: [
            "GATEHOUSE_LISTEN": "0.0.0.0:8080", "GATEHOUSE_UPSTREAM": "http://127.0.0.1:1", "GATEHOUSE_API_UPSTREAM": "http://127.0.0.1:2",
            "GATEHOUSE_OWNER_KEY": "sk_x", "GATEHOUSE_AUTH_MODE": "dev",
        ])
        #expect(allowed.status == 0, "\(allowed.stderr)")
    }

    @Test func checkMasksSecretsAndAppliesFlagsOverEnvOverFile() async throws {
        let dir = try Self.tempDirectory()
        let path = try Self.write(Self.config, in: dir)
        let run = try await CLIRun.run(["check", "--config", path, "--org", "org_from_flag"], environment: ["GATEHOUSE_ORG": "org_from_env", "GATEHOUSE_APP": "app_from_env"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("org_from_flag"))
        #expect(!run.stdout.contains("org_from_env") && !run.stdout.contains("org_cli"))
        #expect(run.stdout.contains("app_from_env"))
        #expect(!run.stdout.contains("sk_cli_owner_secret_91"))
        #expect(run.stdout.contains("***"))
    }

    @Test func keysHashDropsOneTrailingNewline() async throws {
        let run = try await CLIRun.run(["keys", "hash"], stdin: Data("svc_key_123\n".utf8))
        #expect(run.status == 0)
        #expect(run.stdout == APIKeyHash.hex(Array("svc_key_123".utf8)) + "\n")
    }

    @Test(arguments: [TestKeyKind.rsa2048, .p256, .p384, .ed25519])
    func tokenMintSignsWithEachKeyType(_ kind: TestKeyKind) async throws {
        let key = try TestKey.generate(kind, kid: "mint-\(kind.rawValue)")
        let dir = try Self.tempDirectory()
        let keyPath = try Self.write(key.pkcs8PEM, in: dir, as: "key.pem")
        let run = try await CLIRun.run(["token", "mint", "--key", keyPath, "--kid", key.kid, "--sub", "user_m", "--email", "m@example.com",
                                  "--iss", "https://mint.test", "--aud", "api", "--ttl", "10m"])
        #expect(run.status == 0, "\(run.stderr)")
        let token = run.stdout.trimmingCharacters(in: .newlines)
        #expect(!token.contains("\n") && token.split(separator: ".").count == 3)
        let verifier = TokenVerifier(policy: TokenVerificationPolicy(issuer: "https://mint.test", audience: ["api"], authorizedParties: nil, clockSkew: 5, rejectPendingSessions: false))
        guard case .verified(let verified) = verifier.verify(token, keys: TokenFactory.keySet([key]), now: Date().timeIntervalSince1970) else {
            Issue.record("minted token did not verify")
            return
        }
        #expect(verified.subject == "user_m" && verified.email == "m@example.com")
        #expect(verified.expiresAt - Date().timeIntervalSince1970 <= 600)
    }

    @Test func tokenMintRefusesAPublicKey() async throws {
        let key = try TestKey.generate(.p256)
        let dir = try Self.tempDirectory()
        let keyPath = try Self.write(key.publicKeyPEM, in: dir, as: "public.pem")
        Self.expectOneLineExit2(try await CLIRun.run(["token", "mint", "--key", keyPath]), naming: "public.pem")
    }

    @Test func meterReportRejectsAnUnknownGrouping() async throws {
        let dir = try Self.tempDirectory()
        Self.expectOneLineExit2(try await CLIRun.run(["meter", "report", "--dir", dir.path, "--by", "week"]), naming: "--by")
    }

    @Test func demoRefusesANonLoopbackAddress() async throws {
        Self.expectOneLineExit2(try await CLIRun.run(["demo", "--listen", "0.0.0.0:18999"]), naming: "loopback")
    }
}
