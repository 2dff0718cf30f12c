/// The single-app `GATEHOUSE_*` and Clerk `CLERK_*` settings, laid over the YAML tree
/// before it is read: flags > environment > file (SPEC "Configuration").
///
/// Top-level settings (`listen`, `metering.dir`, …) always apply. App-level settings apply
/// to the one app: with no app in the file they create it (`app_default` in `org_default`),
/// with several they are an error naming the variable. Empty variables count as unset.
/// A value set here is taken literally (no `${VAR}` expansion) and errors about it name
/// the variable, or the flag that overrode it.
struct EnvironmentOverlay {
    /// One variable and the YAML path it sets.
    struct Setting: Sendable {
        enum Scope: Sendable { case global, app }
        var variable: String
        var path: [String]
        var scope: Scope
        /// Comma-separated list (`GATEHOUSE_AUDIENCE=a,b`).
        var isList = false
    }

    /// Every setting in priority order: of two that set the same field, the first wins.
    static let settings: [Setting] = [
        Setting(variable: "GATEHOUSE_LISTEN", path: ["listen"], scope: .global),
        Setting(variable: "GATEHOUSE_ADMIN_LISTEN", path: ["admin_listen"], scope: .global),
        Setting(variable: "GATEHOUSE_EVENT_LOOPS", path: ["event_loops"], scope: .global),
        Setting(variable: "GATEHOUSE_METER_DIR", path: ["metering", "dir"], scope: .global),
        Setting(variable: "GATEHOUSE_USERS_STORE", path: ["users", "store"], scope: .global),
        Setting(variable: "GATEHOUSE_USERS_STORE_FILE", path: ["users", "store_file"], scope: .global),
        Setting(variable: "GATEHOUSE_APP", path: ["id"], scope: .app),
        Setting(variable: "GATEHOUSE_ORG", path: ["org"], scope: .app),
        Setting(variable: "GATEHOUSE_UPSTREAM", path: ["upstream"], scope: .app),
        Setting(variable: "GATEHOUSE_API_UPSTREAM", path: ["api", "upstream"], scope: .app),
        Setting(variable: "GATEHOUSE_OWNER_KEY", path: ["api", "owner_key"], scope: .app),
        Setting(variable: "GATEHOUSE_OWNER_KEY_FILE", path: ["api", "owner_key_file"], scope: .app),
        Setting(variable: "GATEHOUSE_AUTH_MODE", path: ["auth", "mode"], scope: .app),
        Setting(variable: "GATEHOUSE_JWKS_URL", path: ["auth", "jwks_url"], scope: .app),
        Setting(variable: "GATEHOUSE_ISSUER", path: ["auth", "issuer"], scope: .app),
        Setting(variable: "GATEHOUSE_AUDIENCE", path: ["auth", "audience"], scope: .app, isList: true),
        Setting(variable: "GATEHOUSE_AUTHORIZED_PARTIES", path: ["auth", "authorized_parties"], scope: .app, isList: true),
        Setting(variable: "CLERK_PUBLISHABLE_KEY", path: ["auth", "publishable_key"], scope: .app),
        Setting(variable: "CLERK_PUBLISHABLE_KEY_FILE", path: ["auth", "publishable_key_file"], scope: .app),
        Setting(variable: "CLERK_SECRET_KEY", path: ["auth", "secret_key"], scope: .app),
        Setting(variable: "CLERK_SECRET_KEY_FILE", path: ["auth", "secret_key_file"], scope: .app),
        Setting(variable: "CLERK_JWKS_URI", path: ["auth", "jwks_url"], scope: .app),
        Setting(variable: "CLERK_JWT_KEY", path: ["auth", "jwt_key"], scope: .app),
        Setting(variable: "CLERK_JWT_KEY_FILE", path: ["auth", "jwt_key_file"], scope: .app),
    ]

    /// The app-level variable that documents a field of the single app, for "is required" hints.
    static func variable(forAppPath path: [String]) -> String? {
        settings.first(where: { $0.scope == .app && $0.path == path })?.variable
    }

    private struct Chosen {
        var setting: Setting
        var value: String
        var origin: ConfigurationNode.Origin
        /// 2 for a flag, 1 for a variable.
        var rank: Int
    }

    var environment: [String: String]
    var flags: [String: String]

    /// Lays the settings over `root` (a mapping).
    func apply(to root: inout ConfigurationNode) throws(ConfigurationError) {
        let known = Set(Self.settings.map(\.variable))
        for name in flags.keys.sorted() where !known.contains(name) {
            throw ConfigurationError(.unknownKey, field: ConfigurationNode.flagName(forVariable: name),
                                     message: "not a configuration setting")
        }
        let chosen = try choose()
        for item in chosen where item.setting.scope == .global {
            set(item, at: item.setting.path[...], in: &root)
        }
        let appLevel = chosen.filter { $0.setting.scope == .app }
        guard !appLevel.isEmpty else { return }
        try applyToSingleApp(appLevel, root: &root)
    }

    /// The winning setting of each field: the highest layer, then table order.
    private func choose() throws(ConfigurationError) -> [Chosen] {
        var present: [Chosen] = []
        for setting in Self.settings {
            if let value = flags[setting.variable], !value.isEmpty {
                present.append(Chosen(setting: setting, value: value, origin: .flag(setting.variable), rank: 2))
            } else if let value = environment[setting.variable], !value.isEmpty {
                present.append(Chosen(setting: setting, value: value, origin: .variable(setting.variable), rank: 1))
            }
        }
        var winners: [Chosen] = []
        for item in present {
            let field = Self.fieldKey(item.setting.path)
            if let index = winners.firstIndex(where: { Self.fieldKey($0.setting.path) == field }) {
                let other = winners[index]
                if other.rank == item.rank, Self.isValueAndFile(other.setting, item.setting) {
                    throw ConfigurationError(.conflict, field: Self.name(of: item),
                                             message: "set either \(other.setting.variable) or \(item.setting.variable), not both")
                }
                if item.rank > other.rank { winners[index] = item }
            } else {
                winners.append(item)
            }
        }
        return winners
    }

    private func applyToSingleApp(_ items: [Chosen], root: inout ConfigurationNode) throws(ConfigurationError) {
        var apps: [ConfigurationNode]
        switch root["apps"]?.value {
        case nil, .null?:
            apps = []
        case .sequence(let list)?:
            apps = list
        case .scalar?, .mapping?:
            throw ConfigurationError(.wrongType, field: "apps", message: "expected a list")
        }
        if apps.count > 1 {
            throw ConfigurationError(.conflict, field: Self.name(of: items[0]),
                                     message: "applies to a single app, but the file has \(apps.count) apps")
        }
        var app = apps.first ?? Self.defaultApp()
        for item in items {
            set(item, at: item.setting.path[...], in: &app)
        }
        let clerk = items.first { $0.setting.variable.hasPrefix("CLERK_") }
        if let clerk, app["auth"]?["mode"] == nil || app["auth"]?["mode"]?.isNull == true {
            set(Chosen(setting: clerk.setting, value: "clerk", origin: clerk.origin, rank: clerk.rank),
                at: ["auth", "mode"], in: &app)
        }
        root["apps"] = ConfigurationNode(.sequence([app]), origin: root["apps"]?.origin ?? .file)
    }

    /// The app that app-level variables create when the file has none.
    private static func defaultApp() -> ConfigurationNode {
        var app = ConfigurationNode.emptyMapping
        app["id"] = .scalar("app_default")
        app["org"] = .scalar("org_default")
        return app
    }

    /// Sets the value at `path` inside `node`, creating mappings where the file has none; an
    /// inline secret replaces its `_file` sibling and the other way round. A file value of the
    /// wrong shape on the way is left for the reader to report.
    private func set(_ item: Chosen, at path: ArraySlice<String>, in node: inout ConfigurationNode) {
        guard let key = path.first else { return }
        switch node.value {
        case .mapping: break
        case .null: node = .emptyMapping
        case .scalar, .sequence: return
        }
        if path.count == 1 {
            if Self.hasFileVariant(item.setting) { node[Self.siblingKey(of: key)] = nil }
            node[key] = Self.valueNode(item)
            return
        }
        var child = node[key] ?? .emptyMapping
        set(item, at: path.dropFirst(), in: &child)
        node[key] = child
    }

    private static func valueNode(_ item: Chosen) -> ConfigurationNode {
        guard item.setting.isList else { return .scalar(item.value, origin: item.origin) }
        let parts = item.value.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
        return ConfigurationNode(.sequence(parts.map { .scalar($0, origin: item.origin) }), origin: item.origin)
    }

    private static func name(of item: Chosen) -> String {
        ConfigurationNode.scalar("", origin: item.origin).fieldName(path: item.setting.variable)
    }

    /// `owner_key` and `owner_key_file` set the same field.
    private static func fieldKey(_ path: [String]) -> [String] {
        guard let last = path.last, last.hasSuffix("_file") else { return path }
        return path.dropLast() + [String(last.dropLast("_file".count))]
    }

    private static func siblingKey(of key: String) -> String {
        key.hasSuffix("_file") ? String(key.dropLast("_file".count)) : key + "_file"
    }

    private static func hasFileVariant(_ setting: Setting) -> Bool {
        settings.contains { isValueAndFile($0, setting) }
    }

    private static func isValueAndFile(_ a: Setting, _ b: Setting) -> Bool {
        a.variable + "_FILE" == b.variable || b.variable + "_FILE" == a.variable
    }
}
