import Crypto
import Foundation
import GatehouseAuth
import GatehouseCore
import NIOCore
import NIOHTTP1
import _CryptoExtras

/// Inputs shared by the benchmarks: keys, tokens, an app configuration and a browser-like
/// request head. Built once per benchmark process, outside every measured region.
struct Fixtures {
    static let issuer = "https://clerk.example.test"
    static let audience = "api"
    static let ownerKey = "sk_owner_bench_5f2c91"

    let rsaPrivate: _RSA.Signing.PrivateKey
    let rsaSigner: TokenSigner
    let es256Signer: TokenSigner
    let edDSASigner: TokenSigner
    let rsaToken: String
    let es256Token: String
    let edDSAToken: String
    /// Every key above, by `kid` (a realistic JWKS: three keys).
    let keys: VerificationKeySet
    let policy: TokenVerificationPolicy
    /// Seconds since 1970 at which every token is valid.
    let now: Double

    init() throws {
        now = Date().timeIntervalSince1970.rounded()
        rsaPrivate = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        rsaSigner = try TokenSigner(pkcs8PEM: rsaPrivate.pkcs8PEMRepresentation, kid: "ins_rsa_2qX7")
        es256Signer = TokenSigner.generateP256(kid: "ins_p256_9kd1")
        edDSASigner = TokenSigner.generateEd25519(kid: "ins_ed_4hv0")
        // Clerk-shaped session-token claims.
        let claims: [String: JSONValue] = [
            "iss": .string(Self.issuer),
            "aud": .string(Self.audience),
            "azp": "https://app.example.test",
            "sub": "user_2NNEqL2nrIRdJ194ndJqAHwEfxC",
            "sid": "sess_2NNEqkmeHUz7vFAhH4QWsa5pqmC",
            "exp": .number(now + 3_600),
            "iat": .number(now - 10),
            "nbf": .number(now - 20),
            "v": 2,
        ]
        rsaToken = try rsaSigner.sign(claims: claims)
        es256Token = try es256Signer.sign(claims: claims)
        edDSAToken = try edDSASigner.sign(claims: claims)
        keys = VerificationKeySet(keys: [rsaSigner.verificationKey, es256Signer.verificationKey, edDSASigner.verificationKey])
        policy = TokenVerificationPolicy(
            issuer: Self.issuer, audience: [Self.audience], authorizedParties: nil, clockSkew: 5, rejectPendingSessions: false
        )
    }

    /// The RSA public key as SPKI PEM (`auth.jwt_key` of the loopback rig).
    var rsaPublicKeyPEM: String { rsaPrivate.publicKey.pemRepresentation }

    /// The app every benchmark serves: `jwt` mode, API upstream at `apiPort`.
    func appConfiguration(appPort: Int = 9, apiPort: Int = 9, jwtKey: String? = nil) -> AppConfiguration {
        var auth = AuthConfiguration()
        auth.mode = .jwt
        auth.issuer = Self.issuer
        auth.audience = [Self.audience]
        auth.jwtKey = jwtKey
        auth.jwksURL = jwtKey == nil ? "https://clerk.example.test/.well-known/jwks.json" : nil
        return AppConfiguration(
            id: "app_bench", org: "org_bench",
            upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: appPort),
            api: APIConfiguration(
                upstream: UpstreamURL(scheme: .http, host: "127.0.0.1", port: apiPort),
                extraHeaders: [HeaderField(name: "X-Namespace", value: "bench")],
                ownerKey: Secret(Self.ownerKey)
            ),
            auth: auth
        )
    }

    /// The target of the benchmark `/_api` request.
    static let apiTarget = "/_api/v1/projects/42/items?limit=20&cursor=eyJpZCI6MTAwfQ"

    /// What a browser's `fetch` to the API sends: 13 fields, a bearer token and cookies.
    func browserAPIHeaders(token: String) -> [(String, String)] {
        [
            ("Host", "app.example.test"),
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"),
            ("Accept", "application/json, text/plain, */*"),
            ("Accept-Language", "en-US,en;q=0.9,de;q=0.8"),
            ("Accept-Encoding", "gzip, deflate, br, zstd"),
            ("Referer", "https://app.example.test/projects/42"),
            ("Authorization", "Bearer " + token),
            ("Cookie", "theme=dark; _ga=GA1.1.1234567890.1718000000; _ga_XYZ=GS1.1.1718000000.3.1.1718000100.0.0.0; consent=analytics"),
            ("Sec-Fetch-Site", "same-origin"),
            ("Sec-Fetch-Mode", "cors"),
            ("Sec-Fetch-Dest", "empty"),
            ("Priority", "u=1, i"),
            ("Connection", "keep-alive"),
        ]
    }

    func browserAPIHead(token: String) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: .GET, uri: Self.apiTarget, headers: HTTPHeaders(browserAPIHeaders(token: token)))
    }

    /// The same request as wire bytes (for the loopback rig's client).
    /// `token` with one character of its signature changed (`A` ↔ `B`, ten characters in):
    /// the same length, still base64url, no longer signed.
    static func forged(_ token: String) -> String {
        var characters = Array(token)
        guard let lastDot = characters.lastIndex(of: ".") else { return token }
        let at = lastDot + 11
        characters[at] = characters[at] == "A" ? "B" : "A"
        return String(characters)
    }

    func browserAPIRequestBytes(token: String) -> [UInt8] {
        var text = "GET \(Self.apiTarget) HTTP/1.1\r\n"
        for (name, value) in browserAPIHeaders(token: token) { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// A 64 KiB HTML page (a realistic head, then varied body text) and its gzip bytes.
    static func htmlPage(bytes: Int = 64 * 1024) -> (plain: [UInt8], gzip: [UInt8]) {
        var html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Projects · Example</title>
            <link rel="preload" href="/assets/app-4f2a9c.js" as="script">
            <link rel="stylesheet" href="/assets/app-91b7e2.css">
            <script type="module" src="/assets/app-4f2a9c.js"></script>
            </head>
            <body>
            <div id="root">

            """
        let words = ["project", "item", "owner", "status", "updated", "draft", "review", "merged", "alpha", "beta", "gamma", "delta"]
        var generator = SplitMix64(seed: 42)
        var row = 0
        while html.utf8.count < bytes - 40 {
            html += "<li class=\"row-\(row % 7)\" data-id=\"\(generator.next() % 100_000)\">"
            for _ in 0..<6 { html += words[Int(generator.next() % UInt64(words.count))] + " " }
            html += "</li>\n"
            row += 1
        }
        html += "</div>\n</body>\n</html>\n"
        let plain = Array(html.utf8)
        return (plain, gzip(plain))
    }

    /// gzip through the system's `gzip` (setup only).
    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "gzip -c -6"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        do { try process.run() } catch { fatalError("gzip: \(error)") }
        let writer = Thread { input.fileHandleForWriting.write(Data(bytes)); try? input.fileHandleForWriting.close() }
        writer.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(data)
    }
}

/// Deterministic filler for the HTML page.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
