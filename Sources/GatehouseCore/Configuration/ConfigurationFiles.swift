import Foundation

/// File access for configuration: path resolution and `*_file` secrets (Docker/Kubernetes style).
enum ConfigurationFiles {
    /// `path` made absolute against `directory`; a leading `./` is dropped.
    static func resolve(_ path: String, against directory: String) -> String {
        if path.hasPrefix("/") { return path }
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2).drop(while: { $0 == "/" }) }
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        if relative.isEmpty || relative == "." { return base.isEmpty ? "/" : base }
        return "\(base)/\(relative)"
    }

    /// The UTF-8 text of a file; errors name `field` and the path, never the contents.
    static func readText(atPath path: String, field: String) throws(ConfigurationError) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigurationError(.unreadableFile, field: field, message: "cannot read \(path): no such file")
        }
        guard !isDirectory.boolValue else {
            throw ConfigurationError(.unreadableFile, field: field, message: "cannot read \(path): is a directory")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(.unreadableFile, field: field, message: "cannot read \(path): permission denied or I/O error")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(.unreadableFile, field: field, message: "cannot read \(path): not UTF-8 text")
        }
        return text
    }

    /// A secret file's value: its text less exactly one trailing `\n` (or `\r\n`).
    static func readSecret(atPath path: String, field: String) throws(ConfigurationError) -> String {
        let text = try readText(atPath: path, field: field)
        return stripOneTrailingNewline(text)
    }

    static func stripOneTrailingNewline(_ text: String) -> String {
        // Work on scalars: Swift treats "\r\n" as one Character.
        var scalars = Substring(text).unicodeScalars
        guard scalars.last == "\n" else { return text }
        scalars.removeLast()
        if scalars.last == "\r" { scalars.removeLast() }
        return String(scalars)
    }
}
