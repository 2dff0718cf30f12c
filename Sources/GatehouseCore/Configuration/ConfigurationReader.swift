/// Typed, path-tracking reads from one YAML mapping: the walker behind ``ConfigurationLoader``.
///
/// Refuses unknown keys up front (a typo must not pass silently), expands `${VAR}` in
/// file values, accepts quoted numbers and booleans, and names the exact field — or the
/// variable or flag that set it — in every error.
struct ConfigurationReader {
    /// What reads need besides the tree: variables for `${VAR}` and the base of relative paths.
    struct Context: Sendable {
        var environment: [String: String]
        var workingDirectory: String
    }

    /// Dotted YAML path of this mapping; empty at the top level.
    let path: String
    let context: Context
    private let entries: [ConfigurationNode.Entry]

    /// Reads `node` as a mapping with exactly the keys in `allowed`; absent or `null` is empty.
    init(_ node: ConfigurationNode?, path: String, allowed: [String], context: Context) throws(ConfigurationError) {
        self.path = path
        self.context = context
        switch node?.value {
        case nil, .null?:
            entries = []
        case .mapping(let items)?:
            entries = items
        case .scalar?, .sequence?:
            throw ConfigurationError(.wrongType, field: node?.fieldName(path: path) ?? path,
                                     message: "expected a mapping of settings")
        }
        for entry in entries where !allowed.contains(entry.key) {
            throw ConfigurationError(.unknownKey, field: childPath(entry.key),
                                     message: "unknown key (known here: \(allowed.joined(separator: ", ")))")
        }
    }

    func childPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The value under `key`; `nil` when absent or `null`.
    func node(_ key: String) -> ConfigurationNode? {
        guard let node = entries.first(where: { $0.key == key })?.node, !node.isNull else { return nil }
        return node
    }

    /// How an error names the value under `key` (its path, or the variable or flag that set it).
    func field(_ key: String) -> String {
        node(key)?.fieldName(path: childPath(key)) ?? childPath(key)
    }

    func missing(_ key: String, hint: String? = nil) -> ConfigurationError {
        ConfigurationError(.missing, field: childPath(key),
                           message: hint.map { "is required (or set \($0))" } ?? "is required")
    }

    func invalid(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(.invalidValue, field: field(key), message: message)
    }

    // MARK: Scalars

    func string(_ key: String) throws(ConfigurationError) -> String? {
        guard let node = node(key) else { return nil }
        return try scalarText(node, path: childPath(key), expected: "a string")
    }

    func requiredString(_ key: String, hint: String? = nil) throws(ConfigurationError) -> String {
        guard let value = try string(key) else { throw missing(key, hint: hint) }
        return value
    }

    /// An integer (plain or quoted) no smaller than `minimum`.
    func int(_ key: String, minimum: Int) throws(ConfigurationError) -> Int? {
        guard let node = node(key) else { return nil }
        let text = try scalarText(node, path: childPath(key), expected: "an integer")
        guard let value = Int(text.trimmingSpaces()) else {
            throw ConfigurationError(.wrongType, field: field(key), message: "expected an integer")
        }
        guard value >= minimum else {
            throw invalid(key, minimum == 1 ? "must be a positive integer" : "must be at least \(minimum)")
        }
        return value
    }

    /// `true`/`false` (also `yes`/`no`, `on`/`off`), plain or quoted, any case.
    func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        guard let node = node(key) else { return nil }
        let text = try scalarText(node, path: childPath(key), expected: "true or false")
        switch text.trimmingSpaces().lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigurationError(.wrongType, field: field(key), message: "expected true or false")
        }
    }

    /// A scalar turned into a value by `parse`; `what` describes the accepted form.
    func parsed<T>(_ key: String, as what: String, _ parse: (String) -> T?) throws(ConfigurationError) -> T? {
        guard let text = try string(key) else { return nil }
        guard let value = parse(text) else { throw invalid(key, "expected \(what)") }
        return value
    }

    // MARK: Collections

    /// A list of strings; a single string counts as a list of one.
    func stringList(_ key: String) throws(ConfigurationError) -> [String]? {
        guard let node = node(key) else { return nil }
        switch node.value {
        case .sequence(let items):
            var values: [String] = []
            for (index, item) in items.enumerated() {
                values.append(try scalarText(item, path: "\(childPath(key))[\(index)]", expected: "a string"))
            }
            return values
        default:
            return [try scalarText(node, path: childPath(key), expected: "a string or a list of strings")]
        }
    }

    /// A mapping of string to string, in file order.
    func stringMap(_ key: String) throws(ConfigurationError) -> [(key: String, value: String)]? {
        guard let node = node(key) else { return nil }
        guard case .mapping(let items) = node.value else {
            throw ConfigurationError(.wrongType, field: field(key), message: "expected a mapping of names to strings")
        }
        var pairs: [(key: String, value: String)] = []
        for item in items {
            let itemPath = "\(childPath(key)).\(item.key)"
            let value = item.node.isNull ? "" : try scalarText(item.node, path: itemPath, expected: "a string")
            pairs.append((item.key, value))
        }
        return pairs
    }

    /// The items of a list of mappings, each with its path (`apps[0]`).
    func sequence(_ key: String) throws(ConfigurationError) -> [(node: ConfigurationNode, path: String)]? {
        guard let node = node(key) else { return nil }
        guard case .sequence(let items) = node.value else {
            throw ConfigurationError(.wrongType, field: field(key), message: "expected a list")
        }
        return items.enumerated().map { (node: $1, path: "\(childPath(key))[\($0)]") }
    }

    /// A nested mapping with its own allowed keys.
    func mapping(_ key: String, allowed: [String]) throws(ConfigurationError) -> ConfigurationReader {
        try ConfigurationReader(node(key), path: childPath(key), allowed: allowed, context: context)
    }

    // MARK: Secrets and paths

    /// A secret given inline as `key` or read from the file named by `key_file`.
    func secret(_ key: String) throws(ConfigurationError) -> String? {
        let fileKey = key + "_file"
        let inline = node(key)
        let file = node(fileKey)
        if inline != nil, file != nil {
            throw ConfigurationError(.conflict, field: field(fileKey), message: "set either \(key) or \(fileKey), not both")
        }
        if inline != nil { return try string(key) }
        guard let path = try string(fileKey) else { return nil }
        guard !path.isEmpty else { throw invalid(fileKey, "must name a file") }
        return try ConfigurationFiles.readSecret(atPath: resolvePath(path), field: field(fileKey))
    }

    /// A path made absolute against the working directory.
    func resolvePath(_ path: String) -> String {
        ConfigurationFiles.resolve(path, against: context.workingDirectory)
    }

    // MARK: Private

    private func scalarText(_ node: ConfigurationNode, path: String, expected: String) throws(ConfigurationError) -> String {
        let field = node.fieldName(path: path)
        guard case .scalar(let text) = node.value else {
            throw ConfigurationError(.wrongType, field: field, message: "expected \(expected)")
        }
        guard node.origin == .file else { return text }
        return try EnvironmentExpansion.expand(text, environment: context.environment, field: field)
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
