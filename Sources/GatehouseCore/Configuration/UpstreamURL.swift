/// Where an upstream lives: `http://host[:port][/base]`, `https://…` or `unix:/path`.
public struct UpstreamURL: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Scheme: String, Sendable, Hashable {
        case http, https, unix
    }

    public var scheme: Scheme
    /// Host name or IP literal (without brackets); empty for `unix`.
    public var host: String
    /// TCP port; 0 for `unix`.
    public var port: Int
    /// Socket path for `unix`.
    public var socketPath: String
    /// Path prefix prepended to forwarded paths; empty or starts with `/`, no trailing `/`.
    public var basePath: String

    public init(scheme: Scheme, host: String, port: Int, socketPath: String = "", basePath: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.socketPath = socketPath
        self.basePath = basePath
    }

    /// Parses an upstream URL; `nil` when it is not one of the three forms.
    public init?(parsing text: String) {
        if text.hasPrefix("unix:") {
            var path = String(text.dropFirst("unix:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard path.hasPrefix("/"), path.count > 1 else { return nil }
            self.init(scheme: .unix, host: "", port: 0, socketPath: path)
            return
        }
        let scheme: Scheme
        let rest: Substring
        if text.hasPrefix("http://") {
            scheme = .http
            rest = text.dropFirst("http://".count)
        } else if text.hasPrefix("https://") {
            scheme = .https
            rest = text.dropFirst("https://".count)
        } else {
            return nil
        }
        let authority: Substring
        var base: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            base = rest[slash...]
        } else {
            authority = rest
        }
        guard !authority.isEmpty, !authority.contains("@"), !base.contains("?"), !base.contains("#") else { return nil }
        while base.hasSuffix("/") { base = base.dropLast() }
        guard let (host, port) = ListenAddress.splitHostPort(authority) else {
            guard !authority.contains(":") || authority.hasPrefix("[") else { return nil }
            var h = authority
            if h.hasPrefix("["), h.hasSuffix("]") { h = h.dropFirst().dropLast() }
            guard !h.isEmpty else { return nil }
            self.init(scheme: scheme, host: String(h), port: scheme == .https ? 443 : 80, basePath: String(base))
            return
        }
        self.init(scheme: scheme, host: host, port: port, basePath: String(base))
    }

    /// The value a `Host` header names for this upstream.
    public var hostHeader: String {
        switch scheme {
        case .unix: return "localhost"
        case .http: return port == 80 ? bracketedHost : "\(bracketedHost):\(port)"
        case .https: return port == 443 ? bracketedHost : "\(bracketedHost):\(port)"
        }
    }

    private var bracketedHost: String { host.contains(":") ? "[\(host)]" : host }

    public var description: String {
        switch scheme {
        case .unix: return "unix:\(socketPath)"
        case .http, .https: return "\(scheme.rawValue)://\(bracketedHost):\(port)\(basePath)"
        }
    }
}
