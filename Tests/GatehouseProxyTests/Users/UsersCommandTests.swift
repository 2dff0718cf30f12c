import Foundation
import GatehouseTesting
import GatehouseUsers
import NIOPosix
import Testing

/// `gatehouse users list` reads the store `users.store` names (black box, the real binary).
@Suite struct UsersCommandTests {
    private static func seededConfig() async throws -> (dir: URL, config: String) {
        let dir = try CommandLineTests.tempDirectory()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let store = try await SQLiteUserStore.open(path: dir.appendingPathComponent("users.db").path, eventLoop: loop)
        try await store.record([
            UserSighting(appID: "app_cli", id: "user_b", profile: UserProfile(email: "b@example.test", name: "Bea"), firstSeen: 1_700_000_000, lastSeen: 1_700_000_060),
            UserSighting(appID: "app_cli", id: "user_a", profile: UserProfile(), firstSeen: 1_700_000_000, lastSeen: 1_700_000_000),
            UserSighting(appID: "app_two", id: "user_c", profile: UserProfile(email: "c@example.test"), firstSeen: 1_700_000_000, lastSeen: 1_700_000_000),
        ], on: loop).get()
        await store.close()
        // A relative sqlite path resolves against the working directory.
        let config = try CommandLineTests.write(CommandLineTests.config + "\nusers:\n  store: sqlite:users.db\n", in: dir)
        return (dir, config)
    }

    @Test func listsAsJSONForOneApp() async throws {
        let (dir, config) = try await Self.seededConfig()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try await CLIRun.run(["users", "list", "--config", config, "--app", "app_cli", "--format", "json"], directory: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["id"] as? String } == ["user_a", "user_b"])
        #expect(rows[1]["email"] as? String == "b@example.test")
        #expect(rows[1]["last_seen"] as? String == "2023-11-14T22:14:20Z")
        #expect(rows[0]["email"] is NSNull)
    }

    @Test func listsEveryAppAsATable() async throws {
        let (dir, config) = try await Self.seededConfig()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try await CLIRun.run(["users", "list", "--config", config], directory: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines.first?.hasPrefix("APP") == true)
        #expect(lines[3].hasPrefix("app_two  user_c"))
        #expect(run.stdout.contains("b@example.test"))
    }

    @Test func missingStoreAndBadFormatAreOneLineExit2() async throws {
        let dir = try CommandLineTests.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try CommandLineTests.write(CommandLineTests.config + "\nusers:\n  store: sqlite:absent.db\n", in: dir)
        CommandLineTests.expectOneLineExit2(try await CLIRun.run(["users", "list", "--config", config], directory: dir), naming: "absent.db")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("absent.db").path))
        CommandLineTests.expectOneLineExit2(try await CLIRun.run(["users", "list", "--config", config, "--format", "xml"], directory: dir), naming: "format")
    }
}
