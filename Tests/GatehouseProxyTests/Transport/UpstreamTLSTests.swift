import Foundation
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

    /// A CA bundle rewritten in place reaches the next connection at the reload: an
    /// upstream with an `api.ca_file` gets a new endpoint (a new trust store) and its
    /// pooled connections close, where an upstream without one keeps them
    /// (`ReloadLiveTests`). Here the bundle is swapped for an unrelated CA, so the
    /// upstream is no longer trusted; reusing the connection verified under the old bundle
    /// would have answered 200.
    @Test func aCABundleRewrittenInPlaceAppliesAtTheReload() async throws {
        let api = try await Self.tlsUpstream()
        let bundle = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-ca-\(UInt64.random(in: 0...UInt64.max)).pem").path
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        try FileManager.default.copyItem(atPath: TransportRig.fixture("test-ca.pem"), toPath: bundle)
        let gatehouse = try await TransportRig.start(api: "https://127.0.0.1:\(api.port)") {
            $0.eventLoops = 1
            $0.apps[0].api.caFile = bundle
        }
        #expect(try await gatehouse.request("GET", "/_api/before", headers: TransportRig.bearer).status == 200)
        #expect(api.connectionCount == 1)

        try FileManager.default.removeItem(atPath: bundle)
        try FileManager.default.copyItem(atPath: TransportRig.fixture("other-ca.pem"), toPath: bundle)
        _ = try await gatehouse.instance.reload(configuration: gatehouse.configuration)
        let after = try await gatehouse.request("GET", "/_api/after", headers: TransportRig.bearer)
        #expect(after.status == 502)
        #expect(api.requests.map(\.path) == ["/before"])
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
