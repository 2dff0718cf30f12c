import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseTesting

/// Keys and helpers the users suites share: one admin and one plain api key on the
/// rig's app, and JSON readers for `/_auth/me` and `/_auth/users`.
enum UsersFixture {
    static let adminKey = "gk_admin_7d1f20"
    static let serviceKey = "gk_service_3a9e41"

    /// The rig's app with both api keys.
    static func withKeys(_ auth: inout AuthConfiguration) {
        auth.apiKeys = [
            APIKeyConfiguration(name: "reporting", sha256: APIKeyHash.hex(Array(adminKey.utf8)), admin: true),
            APIKeyConfiguration(name: "ingest", sha256: APIKeyHash.hex(Array(serviceKey.utf8)), admin: false),
        ]
    }

    static func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer " + token)] }
    static var owner: [(String, String)] { bearer(TestGatehouse.ownerKey) }

    static func object(_ response: TestHTTPResponse) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
    }

    static func array(_ response: TestHTTPResponse) -> [[String: Any]]? {
        (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [[String: Any]]
    }

    static func ids(_ response: TestHTTPResponse) -> [String] {
        (array(response) ?? []).compactMap { $0["id"] as? String }
    }

    /// The target of a `Link: <…>; rel="next"` header, if any.
    static func nextLink(_ response: TestHTTPResponse) -> String? {
        guard let link = response.header("link"), link.hasSuffix(#">; rel="next""#), link.hasPrefix("<") else { return nil }
        return String(link.dropFirst().prefix { $0 != ">" })
    }

    static func temporaryDatabase() -> String {
        NSTemporaryDirectory() + "gatehouse-users-live-" + UUID().uuidString + ".db"
    }

    static func removeDatabase(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}
