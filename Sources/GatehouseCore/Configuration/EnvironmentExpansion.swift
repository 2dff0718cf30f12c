/// `${VAR}` and `${VAR:-default}` in a YAML scalar, expanded after parsing so that a
/// variable's value is always plain text and can never add YAML structure.
///
/// `${VAR:-default}` takes the default when `VAR` is unset or empty (as in a shell);
/// `${VAR}` with `VAR` unset is an error. `$$`, a lone `$`, `$VAR` without braces and
/// anything that is not a well-formed `${NAME…}` are left exactly as written.
enum EnvironmentExpansion {
    /// The expansion of `text`; an error names `field` and the unset variable, not any value.
    static func expand(_ text: String, environment: [String: String], field: String) throws(ConfigurationError) -> String {
        guard text.contains("${") else { return text }
        var output = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            output += rest[..<dollar]
            let afterDollar = rest.index(after: dollar)
            if afterDollar < rest.endIndex, rest[afterDollar] == "$" {
                output += "$$"
                rest = rest[rest.index(after: afterDollar)...]
                continue
            }
            guard let reference = Reference(parsing: rest[dollar...]) else {
                output += "$"
                rest = rest[afterDollar...]
                continue
            }
            output += try reference.resolve(environment: environment, field: field)
            rest = rest[reference.end...]
        }
        output += rest
        return output
    }

    /// One `${NAME}` or `${NAME:-default}` at the start of a substring.
    private struct Reference {
        var name: Substring
        var fallback: Substring?
        var end: Substring.Index

        init?(parsing text: Substring) {
            guard text.hasPrefix("${") else { return nil }
            let body = text.dropFirst(2)
            guard let close = body.firstIndex(of: "}") else { return nil }
            let inside = body[..<close]
            let nameEnd = inside.firstIndex(where: { !Self.isNameCharacter($0) }) ?? inside.endIndex
            let name = inside[..<nameEnd]
            guard let first = name.first, !first.isNumber else { return nil }
            let tail = inside[nameEnd...]
            if tail.isEmpty {
                fallback = nil
            } else if tail.hasPrefix(":-") {
                fallback = tail.dropFirst(2)
            } else {
                return nil
            }
            self.name = name
            self.end = body.index(after: close)
        }

        func resolve(environment: [String: String], field: String) throws(ConfigurationError) -> String {
            let value = environment[String(name)]
            if let fallback {
                if let value, !value.isEmpty { return value }
                return String(fallback)
            }
            guard let value else {
                throw ConfigurationError(.unsetVariable, field: field,
                                         message: "environment variable \(name) is not set (use ${\(name):-default} for a default)")
            }
            return value
        }

        private static func isNameCharacter(_ c: Character) -> Bool {
            c == "_" || (c.isASCII && (c.isLetter || c.isNumber))
        }
    }
}
