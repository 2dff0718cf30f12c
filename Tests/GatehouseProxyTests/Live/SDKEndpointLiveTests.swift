import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// `GET /_auth/sdk.js` over the wire (SPEC "Auth endpoints and the SDK"): Gatehouse
/// answers it itself in every auth mode, as JavaScript with a strong `ETag` and caching
/// headers, and revalidation (`If-None-Match`) and `HEAD` keep the connection's framing.
@Suite struct SDKEndpointLiveTests {
    static func start(_ mode: AuthConfiguration.Mode) async throws -> (TestGatehouse, TestHTTPServer) {
        let app = try await TestHTTPServer.start { _ in .fixed(body: "from the app upstream") }
        var auth = AuthConfiguration()
        auth.mode = mode
        if mode == .jwt { auth.jwtKey = try TestKey.shared(.p256).publicKeyPEM }
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(appUpstream: app.url, apiUpstream: app.url, auth: auth))
        return (gatehouse, app)
    }

    @Test(arguments: [AuthConfiguration.Mode.dev, .jwt, .none])
    func servedAsJavaScriptWithStrongETag(_ mode: AuthConfiguration.Mode) async throws {
        let (gatehouse, app) = try await Self.start(mode)
        let response = try await gatehouse.request("GET", "/_auth/sdk.js")
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/javascript; charset=utf-8")
        #expect(response.text.contains("window.MixpeekAuth = api"))
        #expect(response.header("content-length") == String(response.body.count))
        let etag = try #require(response.header("etag"))
        #expect(etag == "\"" + APIKeyHash.hex(response.body).prefix(32) + "\"", "a strong tag over the body")
        let cache = try #require(response.header("cache-control"))
        #expect(cache.contains("max-age=300") && cache.contains("must-revalidate") && cache.contains("public"))
        #expect(app.requests.isEmpty, "sdk.js was fetched from the app upstream")
        await gatehouse.stop()
        await app.stop()
    }

    @Test func ifNoneMatchGets304AndTheConnectionStaysUsable() async throws {
        let (gatehouse, app) = try await Self.start(.dev)
        let etag = try #require(try await gatehouse.request("GET", "/_auth/sdk.js").header("etag"))
        for value in [etag, "W/" + etag, "\"other\", " + etag, "*"] {
            let connection = try await RawConnection.connect(port: gatehouse.port)
            // A 304 followed by a plain GET on one connection: a stray body byte would
            // corrupt the second response.
            try await connection.send(
                "GET /_auth/sdk.js HTTP/1.1\r\nHost: gatehouse.test\r\nIf-None-Match: \(value)\r\n\r\n" +
                "GET /_auth/sdk.js HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n")
            let notModified = try await connection.readResponse()
            #expect(notModified.status == 304, "If-None-Match: \(value)")
            #expect(notModified.header("etag") == etag)
            #expect(notModified.header("cache-control")?.contains("max-age=300") == true)
            #expect(notModified.header("content-length") == nil && notModified.header("content-type") == nil)
            let full = try await connection.readResponse()
            #expect(full.status == 200 && full.text.contains("MixpeekAuth"))
            await connection.close()
        }
        let stale = try await gatehouse.request("GET", "/_auth/sdk.js", headers: [("If-None-Match", "\"0123456789abcdef\"")])
        #expect(stale.status == 200 && stale.text.contains("MixpeekAuth"))
        #expect(app.requests.isEmpty)
        await gatehouse.stop()
        await app.stop()
    }

    @Test func headHasTheHeadersAndNoBody() async throws {
        let (gatehouse, app) = try await Self.start(.dev)
        let get = try await gatehouse.request("GET", "/_auth/sdk.js")
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(
            "HEAD /_auth/sdk.js HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n" +
            "GET /_auth/sdk.js HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n")
        let head = try await connection.readResponse(headRequest: true)
        #expect(head.status == 200)
        #expect(head.header("content-length") == String(get.body.count))
        #expect(head.header("etag") == get.header("etag"))
        #expect(head.header("content-type") == "application/javascript; charset=utf-8")
        let next = try await connection.readResponse()
        #expect(next.status == 200 && next.body == get.body, "HEAD wrote body bytes onto the connection")
        await connection.close()
        #expect(app.requests.isEmpty)
        await gatehouse.stop()
        await app.stop()
    }

    @Test func otherMethodsGet405() async throws {
        let (gatehouse, app) = try await Self.start(.dev)
        let response = try await gatehouse.request("POST", "/_auth/sdk.js", body: Array("x".utf8))
        #expect(response.status == 405)
        #expect(response.header("allow") == "GET, HEAD")
        #expect(app.requests.isEmpty)
        await gatehouse.stop()
        await app.stop()
    }
}

/// The SDK's dev sign-in posts `/_auth/dev/token` and then reloads the page, and a browser
/// sends that reload on the same kept-alive connection.
@Suite struct DevTokenConnectionLiveTests {
    @Test func connectionServesTheNextRequestAfterADevToken() async throws {
        let (gatehouse, app) = try await SDKEndpointLiveTests.start(.dev)
        let connection = try await RawConnection.connect(port: gatehouse.port)
        let body = #"{"email":"ada@example.com","name":"Ada"}"#
        try await connection.send(
            "POST /_auth/dev/token HTTP/1.1\r\nHost: gatehouse.test\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let minted = try await connection.readResponse()
        #expect(minted.status == 200 && minted.text.contains(#""token":"#))
        try await connection.send("GET /page HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n")
        let next = try await connection.readResponse(timeout: .seconds(5))
        #expect(next.status == 200 && next.text == "from the app upstream")
        await connection.close()
        await gatehouse.stop()
        await app.stop()
    }
}
