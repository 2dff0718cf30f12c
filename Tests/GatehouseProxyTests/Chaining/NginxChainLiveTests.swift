import Foundation
import GatehouseCore
import GatehouseTesting
import Testing

/// Live: a real nginx, configured by the committed `deploy/nginx/gatehouse.conf`, in front
/// of Gatehouse (SPEC "The /_api gate": `X-Forwarded-*` from a trusted peer kept and
/// appended to, from any other replaced; a trusted peer's `X-Request-Id` kept).
///
/// nginx connects from 127.0.0.2 (`proxy_bind`); the test client from 127.0.0.1. So one
/// Gatehouse with `trusted_proxies: [127.0.0.2/32]` sees a trusted nginx and an untrusted
/// direct client on the same host. Gatehouse's access log and meter records carry no
/// client address; what trust changes there is the request id, asserted too.
@Suite struct NginxChainLiveTests {
    struct Chain {
        let rig: GateRig
        let nginx: NginxProcess
        let meterDir: String
        let log: LogCapture

        func stop() async {
            await nginx.stop()
            await rig.stop()
        }

        /// nginx's `$request_id` from its `index`th access log line (lines are in request
        /// order; nginx writes one after its response, so this waits, bounded, for it).
        func nginxRequestID(_ index: Int) async throws -> String {
            let nginx = self.nginx
            _ = try await GateRig.poll { nginx.accessLogLines.count > index }
            return String(nginx.accessLogLines[index].prefix { $0 != " " })
        }
    }

    static let clientHeaders: [(String, String)] = [
        ("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "spoofed.test"),
        ("X-Request-Id", "client-chosen-id"),
    ]

    /// Gatehouse trusting `trusted`, metered and access-logged, with nginx in front.
    static func start(trusted: [String]) async throws -> Chain {
        let meterDir = MeteringRig.tempDirectory("chain-meter")
        let log = LogCapture()
        let rig = try await GateRig.start(logger: log.logger()) { config in
            config.trustedProxies = trusted.compactMap(ChainRig.cidr)
            config.accessLog.enabled = true
            MeteringRig.meter(&config, dir: meterDir)
        }
        do {
            let nginx = try await ChainRig.startNginx(gatehousePort: rig.gatehouse.port)
            return Chain(rig: rig, nginx: nginx, meterDir: meterDir, log: log)
        } catch {
            await rig.stop()
            MeteringRig.remove(meterDir)
            throw error
        }
    }

    /// The `request_id` of every access log line Gatehouse wrote for `path`.
    static func accessLogRequestIDs(_ log: LogCapture, path: String) -> [String] {
        log.text.split(separator: "\n").filter { $0.contains(": request ") && $0.contains("path=\(path) ") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("request_id=") }.map { String($0.dropFirst("request_id=".count)) }
        }
    }

    @Test func aTrustedNginxKeepsTheClientChainAndAppendsItself() async throws {
        let chain = try await Self.start(trusted: ["\(ChainRig.nginxAddress)/32"])
        defer { MeteringRig.remove(chain.meterDir) }
        let token = chain.rig.token(sub: "user_behind_nginx")
        let api = try await ChainRig.request(port: chain.nginx.port, "GET", "/_api/v1/search?q=1",
                                             headers: Gate.bearer(token) + Self.clientHeaders, host: "app.example:8443")
        #expect(api.status == 200)
        #expect(api.text == #"{"api":"/v1/search"}"#)
        let page = try await ChainRig.request(port: chain.nginx.port, "GET", "/page", headers: Self.clientHeaders, host: "app.example:8443")
        #expect(page.status == 200)
        #expect(page.text == "app /page")
        let apiID = try await chain.nginxRequestID(0)
        let pageID = try await chain.nginxRequestID(1)
        #expect(ChainRig.isHex32(apiID) && ChainRig.isHex32(pageID) && apiID != pageID)
        // nginx saw the test client on 127.0.0.1 with the client's chain.
        #expect(chain.nginx.accessLogLines.allSatisfy { $0.hasSuffix(#" 127.0.0.1 "203.0.113.7""#) }, "\(chain.nginx.accessLogLines)")

        // The client's address stays first; nginx appended its peer (the client,
        // 127.0.0.1), Gatehouse its peer (nginx, 127.0.0.2). -Proto and -Host are
        // nginx's (the client's own were overwritten by nginx, not by Gatehouse).
        let atAPI = try #require(chain.rig.api.requests.first)
        let atApp = try #require(chain.rig.app.requests.first)
        for (recorded, id) in [(atAPI, apiID), (atApp, pageID)] {
            #expect(recorded.values("X-Forwarded-For") == ["203.0.113.7, 127.0.0.1, 127.0.0.2"])
            #expect(recorded.values("X-Forwarded-Proto") == ["http"])
            #expect(recorded.values("X-Forwarded-Host") == ["app.example:8443"])
            #expect(recorded.values("X-Request-Id") == [id])
        }
        #expect(atApp.values("Host") == ["app.example"])
        #expect(atAPI.values("Host") == ["127.0.0.1:\(chain.rig.api.port)"])
        #expect(atAPI.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
        #expect(!ChainRig.allHeaderText(atAPI).contains(token))
        await chain.stop()

        // One id from nginx's log to Gatehouse's access log and its meter record.
        #expect(Self.accessLogRequestIDs(chain.log, path: "/_api/v1/search") == [apiID])
        #expect(Self.accessLogRequestIDs(chain.log, path: "/page") == [pageID])
        let records = MeteringRig.records(chain.meterDir)
        try #require(records.count == 1, "\(records)")
        #expect(records[0].string("request_id") == apiID)
        #expect(records[0].string("user") == "user_behind_nginx")
        #expect(records[0].string("path") == "/v1/search")
    }

    @Test func theSameRequestSentDirectlyFromAnUntrustedPeerHasItsForwardedHeadersReplaced() async throws {
        let chain = try await Self.start(trusted: ["\(ChainRig.nginxAddress)/32"])
        defer { MeteringRig.remove(chain.meterDir) }
        let token = chain.rig.token(sub: "user_direct")
        let gatehouse = chain.rig.gatehouse.port
        #expect(try await ChainRig.request(port: gatehouse, "GET", "/_api/v1/search", headers: Gate.bearer(token) + Self.clientHeaders,
                                           host: "app.example:8443").status == 200)
        #expect(try await ChainRig.request(port: gatehouse, "GET", "/page", headers: Self.clientHeaders, host: "app.example:8443").status == 200)
        let atAPI = try #require(chain.rig.api.requests.first)
        let atApp = try #require(chain.rig.app.requests.first)
        for recorded in [atAPI, atApp] {
            #expect(recorded.values("X-Forwarded-For") == ["127.0.0.1"])
            #expect(recorded.values("X-Forwarded-Proto") == ["http"])
            #expect(recorded.values("X-Forwarded-Host") == ["app.example:8443"])
            #expect(ChainRig.isHex32(recorded.values("X-Request-Id").first))
            #expect(recorded.values("X-Request-Id") != ["client-chosen-id"])
        }
        #expect(chain.nginx.accessLogLines.isEmpty)
        await chain.stop()
        let records = MeteringRig.records(chain.meterDir)
        try #require(records.count == 1, "\(records)")
        #expect(records[0].string("request_id") == atAPI.values("X-Request-Id").first)
    }

    @Test func aGatehouseThatDoesNotTrustNginxReplacesWhatNginxSends() async throws {
        // Trusting 127.0.0.1 only (the usual sidecar value) does not trust nginx bound
        // to 127.0.0.2: everything nginx says is replaced.
        let chain = try await Self.start(trusted: ["127.0.0.1/32"])
        defer { MeteringRig.remove(chain.meterDir) }
        #expect(try await ChainRig.request(port: chain.nginx.port, "GET", "/_api/v1/search",
                                           headers: Gate.bearer(chain.rig.token()) + Self.clientHeaders, host: "app.example:8443").status == 200)
        #expect(try await ChainRig.request(port: chain.nginx.port, "GET", "/page", headers: Self.clientHeaders, host: "app.example:8443").status == 200)
        let apiID = try await chain.nginxRequestID(0)
        let pageID = try await chain.nginxRequestID(1)
        let atAPI = try #require(chain.rig.api.requests.first)
        let atApp = try #require(chain.rig.app.requests.first)
        for (recorded, nginxID) in [(atAPI, apiID), (atApp, pageID)] {
            #expect(recorded.values("X-Forwarded-For") == ["127.0.0.2"])
            #expect(recorded.values("X-Forwarded-Proto") == ["http"])
            // From nginx's `Host: $host` (no port), not its X-Forwarded-Host.
            #expect(recorded.values("X-Forwarded-Host") == ["app.example"])
            #expect(ChainRig.isHex32(recorded.values("X-Request-Id").first))
            #expect(recorded.values("X-Request-Id") != [nginxID])
        }
        await chain.stop()
        #expect(Self.accessLogRequestIDs(chain.log, path: "/_api/v1/search") == atAPI.values("X-Request-Id"))
    }

    @Test func theGateWorksThroughNginx() async throws {
        let chain = try await Self.start(trusted: ["\(ChainRig.nginxAddress)/32"])
        defer { MeteringRig.remove(chain.meterDir) }
        let port = chain.nginx.port

        Gate.expectMissing(try await ChainRig.request(port: port, "GET", "/_api/v1/x"))
        Gate.expectRejected(try await ChainRig.request(port: port, "GET", "/_api/v1/x", headers: Gate.bearer("not-a-key")), "unknown_key")
        #expect(chain.rig.api.requests.isEmpty)

        let token = chain.rig.token(sub: "user_gate_nginx")
        let ok = try await ChainRig.request(port: port, "POST", "/_api/v1/items", headers: Gate.bearer(token), body: Array(#"{"a":1}"#.utf8))
        #expect(ok.status == 200)
        let viaCookie = try await ChainRig.request(port: port, "GET", "/_api/v1/items", headers: [("Cookie", "__session=\(token); theme=dark")])
        #expect(viaCookie.status == 200)
        let recorded = chain.rig.api.requests
        try #require(recorded.count == 2)
        for request in recorded {
            #expect(request.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
            #expect(request.values("X-Gatehouse-User") == ["user_gate_nginx"])
            #expect(!ChainRig.allHeaderText(request).contains(token))
        }
        #expect(recorded[0].body == Array(#"{"a":1}"#.utf8))
        #expect(recorded[1].values("Cookie") == ["theme=dark"])

        // Gatehouse's own endpoints answer through nginx too.
        let sdk = try await ChainRig.request(port: port, "GET", "/_auth/sdk.js")
        #expect(sdk.status == 200)
        #expect(sdk.text.contains("window.MixpeekAuth"))
        let me = try await ChainRig.request(port: port, "GET", "/_auth/me", headers: Gate.bearer(token))
        #expect(me.status == 200)
        #expect(Gate.json(me)?["id"] as? String == "user_gate_nginx")

        // Several requests on one client connection, all through the kept-alive upstream.
        let connection = try await RawConnection.connect(port: port)
        for i in 0..<3 {
            try await connection.send("GET /_api/v1/keep/\(i) HTTP/1.1\r\nHost: app.example\r\nAuthorization: Bearer \(token)\r\n\r\n")
            let response = try await connection.readResponse()
            #expect(response.status == 200)
            #expect(response.text == #"{"api":"/v1/keep/\#(i)"}"#)
        }
        await connection.close()
        await chain.stop()
    }

    @Test func aWebSocketUpgradesThroughNginxAndGatehouse() async throws {
        // The example's `map $http_upgrade` and `Upgrade`/`Connection` headers: nginx
        // passes the handshake on, Gatehouse tunnels after the app's 101.
        let echo = try await WebSocketEchoServer.start()
        let gatehouse = try await TransportRig.start(app: echo.url, api: echo.url)
        let nginx: NginxProcess
        do {
            nginx = try await ChainRig.startNginx(gatehousePort: gatehouse.port)
        } catch {
            await gatehouse.stop()
            await echo.stop()
            throw error
        }
        let connection = try await RawConnection.connect(port: nginx.port)
        try await connection.send(WebSocketLiveTests.handshake("/socket"))
        let switched = try await connection.readResponse(headRequest: true)
        #expect(switched.status == 101)
        #expect(switched.header("upgrade")?.lowercased() == "websocket")
        #expect(switched.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        try await connection.send(WebSocketTestFrame.maskedText("through nginx and gatehouse"))
        #expect(try await connection.readFrame() == "through nginx and gatehouse")
        await connection.close()
        await nginx.stop()
        await gatehouse.stop()
        await echo.stop()
    }
}
