import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// `Upgrade: websocket` passes through after the gate and only after the upstream's 101.
@Suite struct WebSocketLiveTests {
    static let serviceKey = "svc_ws_key_81c3"

    static func start() async throws -> (TestGatehouse, WebSocketEchoServer) {
        let echo = try await WebSocketEchoServer.start()
        var auth = AuthConfiguration()
        auth.mode = .jwt
        auth.jwtKey = try TestKey.shared(.ed25519).publicKeyPEM
        auth.apiKeys = [APIKeyConfiguration(name: "ws", sha256: APIKeyHash.hex(Array(serviceKey.utf8)))]
        let config = TestGatehouse.configuration(appUpstream: echo.url, apiUpstream: echo.url, auth: auth) { config in
            config.apps[0].api.stripPrefix = false
        }
        return (try await TestGatehouse.start(config), echo)
    }

    static func handshake(_ path: String, extra: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: gatehouse.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\(extra)\r\n"
    }

    @Test func webSocketTunnelsAfterTheGateAccepts() async throws {
        let (gatehouse, echo) = try await Self.start()
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.handshake("/_api/socket", extra: "Authorization: Bearer \(Self.serviceKey)\r\n"))
        let switched = try await connection.readResponse(headRequest: true)
        #expect(switched.status == 101)
        #expect(switched.header("upgrade")?.lowercased() == "websocket")
        #expect(switched.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        try await connection.send(WebSocketTestFrame.maskedText("hello through the tunnel"))
        let echoed = try await connection.readFrame()
        #expect(echoed == "hello through the tunnel")
        await connection.close()
        await gatehouse.stop()
        await echo.stop()
    }

    @Test func webSocketUpgradeWithoutTokenIsRejectedBeforeTheUpstream() async throws {
        let (gatehouse, echo) = try await Self.start()
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.handshake("/_api/socket"))
        let rejected = try await connection.readResponse()
        #expect(rejected.status == 401)
        #expect(rejected.text == #"{"error":"unauthenticated","reason":"missing_token"}"#)
        await connection.close()
        await gatehouse.stop()
        await echo.stop()
    }

    @Test func appRouteWebSocketAlsoTunnels() async throws {
        let (gatehouse, echo) = try await Self.start()
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.handshake("/live"))
        let switched = try await connection.readResponse(headRequest: true)
        #expect(switched.status == 101)
        try await connection.send(WebSocketTestFrame.maskedText("app side"))
        #expect(try await connection.readFrame() == "app side")
        await connection.close()
        await gatehouse.stop()
        await echo.stop()
    }

    @Test func h2cUpgradeIsNotPassedOn() async throws {
        let (gatehouse, echo) = try await Self.start()
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send("GET /plain HTTP/1.1\r\nHost: gatehouse.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        let response = try await connection.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "plain")
        #expect(await connection.waitForClose())
        await connection.close()
        await gatehouse.stop()
        await echo.stop()
    }
}

extension RawConnection {
    /// Reads one unmasked server text frame.
    func readFrame() async throws -> String {
        let bytes = try await readRaw { WebSocketTestFrame.unmaskedText($0) != nil }
        return WebSocketTestFrame.unmaskedText(bytes) ?? ""
    }
}
