import Foundation
import GatehouseUsers
import NIOCore
import NIOPosix

/// A fresh directory under the system temp dir, removed by ``remove()``.
struct TempDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "gatehouse-users-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    var database: String { path + "/users.db" }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum StoreFixture {
    static var loop: EventLoop { MultiThreadedEventLoopGroup.singleton.next() }

    static func sighting(_ app: String, _ id: String, email: String? = nil, name: String? = nil, at time: Double = 1_000)
        -> UserSighting
    {
        UserSighting(appID: app, id: id, profile: UserProfile(email: email, name: name), firstSeen: time, lastSeen: time)
    }
}
