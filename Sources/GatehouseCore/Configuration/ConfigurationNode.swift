import Yams

/// A parsed YAML value that remembers who set it, so errors name the file field,
/// the variable or the flag at fault, and only file values get `${VAR}` expansion.
struct ConfigurationNode: Sendable {
    /// Where a value came from.
    enum Origin: Sendable, Equatable {
        /// The YAML file (or a built-in default): `${VAR}` is expanded.
        case file
        /// An environment variable, taken literally.
        case variable(String)
        /// A command-line flag overriding the variable of that name, taken literally.
        case flag(String)
    }

    /// One `key: value` pair of a mapping, in file order.
    struct Entry: Sendable {
        var key: String
        var node: ConfigurationNode
    }

    enum Value: Sendable {
        case null
        case scalar(String)
        case sequence([ConfigurationNode])
        case mapping([Entry])
    }

    var value: Value
    var origin: Origin

    init(_ value: Value, origin: Origin = .file) {
        self.value = value
        self.origin = origin
    }

    static func scalar(_ text: String, origin: Origin = .file) -> ConfigurationNode {
        ConfigurationNode(.scalar(text), origin: origin)
    }

    static let emptyMapping = ConfigurationNode(.mapping([]))

    /// How an error names this value: the YAML path for file values, else the variable or flag.
    func fieldName(path: String) -> String {
        switch origin {
        case .file: return path
        case .variable(let name): return name
        case .flag(let name): return Self.flagName(forVariable: name)
        }
    }

    /// `GATEHOUSE_API_UPSTREAM` → `--api-upstream`, `CLERK_SECRET_KEY` → `--clerk-secret-key`.
    static func flagName(forVariable name: String) -> String {
        var base = Substring(name)
        if base.hasPrefix("GATEHOUSE_") { base = base.dropFirst("GATEHOUSE_".count) }
        return "--" + base.lowercased().replacingOccurrences(of: "_", with: "-")
    }

    var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    /// The mapping's value for `key`, if this is a mapping that has it.
    subscript(key: String) -> ConfigurationNode? {
        get {
            guard case .mapping(let entries) = value else { return nil }
            return entries.first(where: { $0.key == key })?.node
        }
        set {
            guard case .mapping(var entries) = value else { return }
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].node = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append(Entry(key: key, node: newValue))
            }
            value = .mapping(entries)
        }
    }
}

extension ConfigurationNode {
    /// Parses YAML text into a node tree; `nil` or empty text is an empty mapping.
    static func parse(yaml: String?, path: String?) throws(ConfigurationError) -> ConfigurationNode {
        let field = path ?? "config"
        guard let yaml else { return .emptyMapping }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigurationError(.invalidYAML, field: field, message: Self.describe(error))
        } catch {
            throw ConfigurationError(.invalidYAML, field: field, message: "not valid YAML")
        }
        guard let root else { return .emptyMapping }
        var budget = maximumNodes
        let node = try ConfigurationNode(yams: root, path: "", budget: &budget)
        switch node.value {
        case .mapping: return node
        case .null: return .emptyMapping
        case .scalar, .sequence:
            throw ConfigurationError(.invalidYAML, field: field, message: "the top level must be a mapping of settings")
        }
    }

    /// Bound on values after alias expansion, so `&a [*a, *a, …]` chains cannot explode.
    private static let maximumNodes = 100_000

    private init(yams node: Node, path: String, budget: inout Int) throws(ConfigurationError) {
        budget -= 1
        guard budget >= 0 else {
            throw ConfigurationError(.invalidYAML, field: path.isEmpty ? "config" : path,
                                     message: "too many values (more than \(Self.maximumNodes) after expanding aliases)")
        }
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                self.init(.null)
            } else {
                self.init(.scalar(scalar.string))
            }
        case .sequence(let sequence):
            var items: [ConfigurationNode] = []
            for (index, item) in sequence.enumerated() {
                items.append(try ConfigurationNode(yams: item, path: "\(path)[\(index)]", budget: &budget))
            }
            self.init(.sequence(items))
        case .mapping(let mapping):
            var entries: [Entry] = []
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let key) = keyNode else {
                    throw ConfigurationError(.wrongType, field: path.isEmpty ? "config" : path,
                                             message: "mapping keys must be plain names")
                }
                let childPath = path.isEmpty ? key.string : "\(path).\(key.string)"
                entries.append(Entry(key: key.string, node: try ConfigurationNode(yams: valueNode, path: childPath, budget: &budget)))
            }
            self.init(.mapping(entries))
        case .alias:
            // Yams resolves aliases while composing; an unresolved one is refused.
            throw ConfigurationError(.invalidYAML, field: path.isEmpty ? "config" : path,
                                     message: "unresolved alias")
        }
    }

    /// One line about a YAML syntax error: the problem and its position, never the text around it.
    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return "invalid YAML at line \(mark.line), column \(mark.column): \(problem)"
        case .reader(let problem, _, _, _):
            return "invalid YAML: \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "duplicate key \(duplicates.joined(separator: ", ")) at line \(context.mark.line)"
        default:
            return "not valid YAML"
        }
    }
}
