import GatehouseCore
import GatehouseTesting
import Testing

/// `HEAD` answered by Gatehouse itself carries headers only, so a kept-alive connection
/// stays framed for the next request (RFC 9110 §9.3.2).
@Suite struct HeadRequestLiveTests {
    @Test func localAnswersToHeadHaveNoBodyAndKeepTheConnection() async throws {
        let upstream = try await TestHTTPServer.start { _ in .fixed(body: "up") }
        var auth = AuthConfiguration()
        auth.mode = .dev
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(appUpstream: upstream.url, apiUpstream: upstream.url, auth: auth))
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send("HEAD /_auth/jwks.json HTTP/1.1\r\nHost: g.test\r\n\r\n")
        let jwks = try await connection.readResponse(headRequest: true)
        #expect(jwks.status == 200)
        try await connection.send("HEAD /_api/x HTTP/1.1\r\nHost: g.test\r\n\r\n")
        let gated = try await connection.readResponse(headRequest: true)
        #expect(gated.status == 401)
        // Had either HEAD answer carried a body, these bytes would not parse as the GET's response.
        try await connection.send("GET /_auth/jwks.json HTTP/1.1\r\nHost: g.test\r\n\r\n")
        let get = try await connection.readResponse()
        #expect(get.status == 200 && get.text.hasPrefix(#"{"keys":["#))
        await connection.close()
        await gatehouse.stop()
        await upstream.stop()
    }
}
