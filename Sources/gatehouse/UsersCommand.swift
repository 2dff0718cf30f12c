import ArgumentParser
import Foundation
import GatehouseCore
import GatehouseUsers
import NIOPosix

/// `gatehouse users`: read the per-app user list the proxy keeps (`users.store`).
struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read the per-app user list.", subcommands: [List.self])

    /// `gatehouse users list`: every stored user, or one app's, ordered by app then id.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the stored users (the store of --config, or users.store from the environment).")

        @Option(name: .long, help: "YAML configuration file (its users.store is read).") var config: String?
        @Option(name: .long, help: "Only this app's users.") var app: String?
        @Option(name: .long, help: "table | json") var format: String = "table"

        func run() async throws {
            guard format == "table" || format == "json" else {
                throw CLIError(description: "users list: --format: expected table or json, got \(format)")
            }
            let store = try storeSetting()
            let location: UserStoreLocation
            do {
                location = try UserStoreLocation(store)
            } catch {
                throw CLIError(description: error.description)
            }
            if case .sqliteFile(let path) = location, !FileManager.default.fileExists(atPath: path) {
                throw CLIError(description: "users list: users.store: no database at \(path)")
            }
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let opened: any UserStore
            do {
                opened = try await UserStores.open(store, eventLoop: loop)
            } catch {
                throw CLIError(description: "users list: \(error)")
            }
            let users: [UserRecord]
            do {
                users = try await opened.listAll(app: app, on: loop).get()
            } catch {
                await opened.close()
                throw CLIError(description: "users list: \(error)")
            }
            await opened.close()
            let text = format == "json" ? UsersListing.json(users) : UsersListing.table(users)
            FileHandle.standardOutput.write(Data(text.utf8))
        }

        /// `users.store` from `--config` (plus environment), else from the environment's
        /// single-app settings when they form a configuration, else
        /// `GATEHOUSE_USERS_STORE`, else the default `sqlite:./gatehouse.db`.
        private func storeSetting() throws -> String {
            let environment = ProcessInfo.processInfo.environment
            var sources = ConfigurationSources(environment: environment)
            if let config {
                do {
                    try sources.readYAMLFile(atPath: config)
                    return try ConfigurationLoader.load(sources).users.store
                } catch {
                    throw CLIError(description: error.description)
                }
            }
            if let loaded = try? ConfigurationLoader.load(sources) { return loaded.users.store }
            return environment["GATEHOUSE_USERS_STORE"] ?? UsersConfiguration().store
        }
    }
}

/// How `users list` prints: an aligned table for people, or a JSON array.
enum UsersListing {
    static func json(_ users: [UserRecord]) -> String {
        let rows = users.map { user in
            "{\"app\":" + UserJSON.quote(user.appID) + ",\"id\":" + UserJSON.quote(user.id)
                + ",\"email\":" + UserJSON.quote(user.profile.email) + ",\"name\":" + UserJSON.quote(user.profile.name)
                + ",\"avatar_url\":" + UserJSON.quote(user.profile.avatarURL)
                + ",\"first_seen\":" + UserJSON.quote(timestamp(user.firstSeen))
                + ",\"last_seen\":" + UserJSON.quote(timestamp(user.lastSeen)) + "}"
        }
        return "[" + rows.joined(separator: ",") + "]\n"
    }

    static func table(_ users: [UserRecord]) -> String {
        let header = ["APP", "ID", "EMAIL", "NAME", "FIRST_SEEN", "LAST_SEEN"]
        let rows = users.map { u in
            [u.appID, u.id, u.profile.email ?? "-", u.profile.name ?? "-", timestamp(u.firstSeen), timestamp(u.lastSeen)]
        }
        let all = [header] + rows
        let widths = (0..<header.count).map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// RFC 3339 UTC with seconds.
    static func timestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
