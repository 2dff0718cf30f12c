import GatehouseCore
import GatehouseTesting
import Testing

/// SPEC "Shape": TLS to `https` upstreams, verified; `api.ca_file` adds a trust root.
/// Fixtures from scripts/make-test-certs.sh: a test CA, a server certificate for
/// 127.0.0.1 / ::1 / localhost signed by it, and an unrelated CA.
@Suite struct UpstreamTLSTests {
    static func tlsUpstream() async throws -> TestHTTPServer {
        let tls = try TestTLS.serverContext(
            certificateFile: TransportRig.fixture("test-server.pem"), keyFile: TransportRig.fixture("test-server.key")
        )
        return try await TestHTTPServer.start(tls: tls) { r in .fixed(body: "tls " + r.path) }
    }

    @Test(arguments: ["127.0.0.1", "localhost"])
    func trustedByCAFile(host: String) async throws {
        let api = try await Self.tlsUpstream()
        let gatehouse = try await TransportRig.start(api: "https://\(host):\(api.port)") {
            $0.apps[0].api.caFile = TransportRig.fixture("test-ca.pem")
        }
        let response = try await gatehouse.request("GET", "/_api/secure", headers: TransportRig.bearer)
        #expect(response.status == 200)
        #expect(response.text == "tls /secure")
        #expect(api.requests.first?.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
        await gatehouse.stop()
        await api.stop()
    }

    @Test(arguments: [nil, "other-ca.pem"] as [String?])
    func untrustedCertificateIs502(caFile: String?) async throws {
        let api = try await Self.tlsUpstream()
        let gatehouse = try await TransportRig.start(api: "https://127.0.0.1:\(api.port)") {
            $0.apps[0].api.caFile = caFile.map { TransportRig.fixture($0) }
        }
        let response = try await gatehouse.request("GET", "/_api/secure", headers: TransportRig.bearer)
        #expect(response.status == 502)
        #expect(response.text == #"{"error":"bad_gateway"}"#)
        // The handshake failed, so no request (and no owner key) reached the upstream.
        #expect(api.requests.isEmpty)
        await gatehouse.stop()
        await api.stop()
    }
}
