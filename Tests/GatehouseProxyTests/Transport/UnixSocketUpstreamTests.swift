import Foundation
import GatehouseCore
import GatehouseTesting
import Testing

/// SPEC "Shape": `unix:` socket upstreams, for the app and for the API.
@Suite struct UnixSocketUpstreamTests {
    @Test func appAndAPIOverUnixSockets() async throws {
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let appPath = "/tmp/gh-app-\(tag).sock"
        let apiPath = "/tmp/gh-api-\(tag).sock"
        let app = try await TestHTTPServer.start(unixSocketPath: appPath) { r in .fixed(body: "app " + r.path) }
        let api = try await TestHTTPServer.start(unixSocketPath: apiPath) { r in .fixed(body: "api " + r.path) }
        defer {
            try? FileManager.default.removeItem(atPath: appPath)
            try? FileManager.default.removeItem(atPath: apiPath)
        }
        #expect(app.url == "unix:" + appPath)
        let gatehouse = try await TransportRig.start(app: app.url, api: api.url)

        let apiResponse = try await gatehouse.request("GET", "/_api/v1/items", headers: TransportRig.bearer)
        #expect(apiResponse.status == 200)
        #expect(apiResponse.text == "api /v1/items")
        #expect(api.requests.first?.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])

        let appResponse = try await gatehouse.request("GET", "/page")
        #expect(appResponse.status == 200)
        #expect(appResponse.text == "app /page")
        #expect(app.requests.map(\.path) == ["/page"])

        await gatehouse.stop()
        await app.stop()
        await api.stop()
    }
}
