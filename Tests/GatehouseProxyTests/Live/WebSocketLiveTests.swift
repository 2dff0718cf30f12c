import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting
import Testing

/// `Upgrade: websocket` passes through after the gate and only after the upstream's 101.
@Suite struct WebSocketLiveTests {
    static let serviceKey = "svc_ws_key_81c3"

    static func start(idleTimeoutMs: Int? = nil) async throws -> (TestGatehouse, WebSocketEchoServer) {
        let echo = try await WebSocketEchoServer.start()
        var auth = AuthConfiguration()
        auth.mode = .jwt
        auth.jwtKey = try TestKey.shared(.ed25519).publicKeyPEM
        auth.apiKeys = [APIKeyConfiguration(name: "ws", sha256: APIKeyHash.hex(Array(serviceKey.utf8)))]
        let config = TestGatehouse.configuration(appUpstream: echo.url, apiUpstream: echo.url, auth: auth) { config in
            config.apps[0].api.stripPrefix = false
            if let idleTimeoutMs { config.limits.idleTimeoutMs = idleTimeoutMs }
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

    /// A tunnel nothing crosses for `idle_timeout_ms` is closed (nginx closes a silent
    /// WebSocket after `proxy_read_timeout`, HAProxy after `timeout tunnel`): a peer that
    /// vanished without a FIN would otherwise hold both connections for good.
    @Test func anIdleTunnelClosesAfterTheIdleTimeout() async throws {
        let (gatehouse, echo) = try await Self.start(idleTimeoutMs: 300)
        let connection = try await RawConnection.connect(port: gatehouse.port)
        try await connection.send(Self.handshake("/live"))
        #expect(try await connection.readResponse(headRequest: true).status == 101)
        #expect(await connection.waitForClose(timeout: .seconds(10)))
        await connection.close()
        await gatehouse.stop()
        await echo.stop()
    }

    /// The idle wait restarts with every byte either way: a tunnel in use outlasts the
    /// timeout. Paced on this thread with a blocking socket, so a busy test process delays
    /// it no more than any thread (not behind other tasks).
    @Test func aTunnelInUseStaysOpen() async throws {
        let (gatehouse, echo) = try await Self.start(idleTimeoutMs: 1_000)
        let socket = try BlockingClientSocket(port: gatehouse.port, receiveBuffer: 64 << 10, readTimeout: 10)
        defer { socket.close() }
        #expect(socket.writeAll(Array(Self.handshake("/live").utf8)))
        var head: [UInt8] = []
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]), let chunk = socket.read(max: 1) { head += chunk }
        #expect(String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101"))
        // 25 messages 100 ms apart: two and a half timeouts, a tenth of one between two.
        var echoed = 0
        for i in 0..<25 {
            usleep(100_000)
            guard socket.writeAll(WebSocketTestFrame.maskedText("message \(i)")) else { break }
            var frame: [UInt8] = []
            while WebSocketTestFrame.unmaskedText(frame) == nil, let chunk = socket.read(max: 4096) { frame += chunk }
            guard WebSocketTestFrame.unmaskedText(frame) == "message \(i)" else { break }
            echoed += 1
        }
        #expect(echoed == 25)
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
