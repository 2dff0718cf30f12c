import GatehouseAuth
import NIOCore
import NIOHTTP1

/// A request to an endpoint Gatehouse serves itself that needs its (small) body.
struct LocalEndpointRequest {
    enum Kind {
        case devToken
    }
    let kind: Kind
    let app: AppRuntime
    var keepAlive = true
    var body = ByteBuffer()
}

/// The `/_auth/*` endpoints Gatehouse answers itself (SPEC "Routing" table): the browser
/// SDK `/_auth/sdk.js` in every mode; in dev mode `/_auth/jwks.json` and
/// `POST /_auth/dev/token`. Everything else under `/_auth` that
/// SPEC does not name goes to the app like any other path.
struct LocalEndpoints {
    enum Match {
        case answer(LocalResponse)
        case collectBody(LocalEndpointRequest)
        /// Answered by a task that may need I/O first (`/_auth/me`, `/_auth/users`; see
        /// UserEndpoints).
        case asyncAnswer(LocalEndpointTask)
    }

    static let maxBodyBytes = 16 * 1024

    func match(_ path: String, method: HTTPMethod, headers: HTTPHeaders = HTTPHeaders(), app: AppRuntime) -> Match? {
        guard path.hasPrefix("/_auth/") else { return nil }
        if path == "/_auth/sdk.js" { return .answer(Self.sdk(method: method, headers: headers)) }
        if let users = UserEndpoints.match(path, method: method, app: app) { return users }
        guard let dev = app.devIssuer else { return nil }
        switch path {
        case "/_auth/jwks.json":
            guard method == .GET || method == .HEAD else { return .answer(.methodNotAllowed(allow: "GET, HEAD")) }
            return .answer(.json(.ok, dev.jwksJSON, extraHeaders: [("Cache-Control", "public, max-age=300")]))
        case "/_auth/dev/token":
            guard method == .POST else { return .answer(.methodNotAllowed(allow: "POST")) }
            return .collectBody(LocalEndpointRequest(kind: .devToken, app: app))
        default:
            return nil
        }
    }

    /// `GET`/`HEAD /_auth/sdk.js` in every auth mode, `304` when `If-None-Match` names it.
    static func sdk(method: HTTPMethod, headers: HTTPHeaders) -> LocalResponse {
        guard method == .GET || method == .HEAD else { return .methodNotAllowed(allow: "GET, HEAD") }
        let asset = BrowserSDK.asset
        if asset.isMatched(byIfNoneMatch: headers[canonicalForm: "if-none-match"].map(String.init)) { return .notModified(asset) }
        return .asset(asset, headOnly: method == .HEAD)
    }

    func respond(to request: LocalEndpointRequest, now: Double) -> LocalResponse {
        switch request.kind {
        case .devToken:
            return devToken(request, now: now)
        }
    }

    /// `{"email","name"}` → `{"token","expires_at"}` (SPEC "Dev mode").
    private func devToken(_ request: LocalEndpointRequest, now: Double) -> LocalResponse {
        guard let dev = request.app.devIssuer else { return .notFound }
        guard case .object(let fields)? = try? StrictJSON.parse(request.body.readableBytesView),
              case .string(let email)? = fields["email"],
              Self.isPlausibleEmail(email) else {
            return .json(.badRequest, #"{"error":"bad_request","reason":"email required"}"#)
        }
        var name: String?
        if case .string(let n)? = fields["name"] { name = n }
        guard let minted = try? dev.mint(email: email, name: name, now: now) else {
            return .json(.internalServerError, #"{"error":"internal"}"#)
        }
        let body = StrictJSON.serialize(.object(["token": .string(minted.token), "expires_at": .number(Double(minted.expiresAt))]))
        return .json(.ok, body)
    }

    static func isPlausibleEmail(_ email: String) -> Bool {
        guard email.utf8.count <= 254, let at = email.firstIndex(of: "@") else { return false }
        let local = email[..<at]
        let domain = email[email.index(after: at)...]
        return !local.isEmpty && !domain.isEmpty && !email.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" })
    }
}
