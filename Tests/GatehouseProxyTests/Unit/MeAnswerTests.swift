import Foundation
import GatehouseAuth
import GatehouseCore
@testable import GatehouseProxy
import GatehouseTesting
import GatehouseUsers
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// `/_auth/me` answers on the spot when nothing is pending — a token verified now or
/// cached, of a user whose profile is known — and through a future only while a JWKS
/// refetch or the user's first profile look-up is under way. Either way the answer is the
/// same. The endpoint's task is run directly on a real loop (inside `submit`, as the
/// handler runs it), so "on the spot" is the value it returns, not a timing. An embedded
/// loop would be driven from whichever thread each `await` resumes on, which it forbids.
@Suite struct MeAnswerTests {
    static let now = 1_800_000_000.0

    /// Keys that are loaded but lack the token's `kid` until `refetched` is completed.
    final class RefetchingKeySource: KeySource {
        let refetched: EventLoopPromise<KeySnapshot>
        private let current = NIOLockedValueBox(KeySnapshot(keys: .empty, loaded: true))

        init(refetched: EventLoopPromise<KeySnapshot>) {
            self.refetched = refetched
            refetched.futureResult.whenSuccess { [current] snapshot in current.withLockedValue { $0 = snapshot } }
        }

        func currentKeys() -> KeySnapshot { current.withLockedValue { $0 } }
        func resolveUnknownKid(now: Double, on eventLoop: EventLoop) -> UnknownKidResolution { .wait(refetched.futureResult) }
    }

    struct Rig: Sendable {
        let app: AppRuntime
        /// Made and used on `eventLoop` only.
        let loop: NIOLoopBound<LoopContext>
        let eventLoop: any EventLoop
        let directory: UserDirectory
        let store: SQLiteUserStore

        /// The endpoint's task run on the loop, as the handler runs it.
        func me(_ headers: HTTPHeaders) async throws -> LocalAnswer {
            let (app, loop, eventLoop) = (app, loop, eventLoop)
            let answer: LocalAnswer? = try await eventLoop.submit {
                guard case .asyncAnswer(let task)? = UserEndpoints.match("/_auth/me", method: .GET, app: app) else { return nil }
                let context = LocalEndpointContext(
                    head: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/_auth/me", headers: headers),
                    target: RequestTarget(path: "/_auth/me", query: nil), loop: loop.value, eventLoop: eventLoop, now: MeAnswerTests.now
                )
                return task.run(context)
            }.get()
            guard let answer else {
                Issue.record("/_auth/me is not a task")
                return .now(.notFound)
            }
            return answer
        }
    }

    /// Runs `body` with a rig whose store is closed afterwards, whatever `body` does.
    static func withRig(keySource: KeySource, lookup: ProfileLookup? = nil, _ body: (Rig) async throws -> Void) async throws {
        let rig = try await Self.rig(keySource: keySource, lookup: lookup)
        do {
            try await body(rig)
        } catch {
            await rig.directory.shutdown()
            await rig.store.close()
            throw error
        }
        await rig.directory.shutdown()
        await rig.store.close()
    }

    static func now(_ answer: LocalAnswer) throws -> LocalResponse {
        guard case .now(let response) = answer else { throw Unexpected.answeredLater }
        return response
    }

    static func later(_ answer: LocalAnswer) throws -> EventLoopFuture<LocalResponse> {
        guard case .later(let response) = answer else { throw Unexpected.answeredNow }
        return response
    }

    enum Unexpected: Error {
        case answeredLater
        case answeredNow
    }

    private static func rig(keySource: KeySource, lookup: ProfileLookup?) async throws -> Rig {
        let config = APIGateTests.configuration()
        let storeLoop = MultiThreadedEventLoopGroup.singleton.next()
        let store = try await SQLiteUserStore.open(path: nil, eventLoop: storeLoop)
        let directory = UserDirectory(store: store, flushLoop: storeLoop)
        let users = AppUsers(appID: config.id, directory: directory, lookup: lookup)
        let app = try AppRuntime(config: config, index: 0, keySource: keySource, devIssuer: nil, users: users)
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let loop = try await eventLoop.submit {
            let settings = ProxySettings(configuration: GatehouseConfiguration(), clock: { MeAnswerTests.now })
            return NIOLoopBound(LoopContext(eventLoop: eventLoop, runtime: ProxyRuntime(apps: [app]), settings: settings), eventLoop: eventLoop)
        }.get()
        return Rig(app: app, loop: loop, eventLoop: eventLoop, directory: directory, store: store)
    }

    static func token(_ key: TestKey, sub: String, extra: [String: JSONValue]) -> HTTPHeaders {
        let claims = TokenFactory.claims(sub: sub, now: now, ttl: 300, iss: APIGateTests.issuer, aud: "api", extra: extra)
        return ["Authorization": "Bearer " + TokenFactory.token(key: key, claims: claims)]
    }

    static let adaProfile: [String: JSONValue] = ["email": "ada@example.test", "name": "Ada", "picture": "https://img.test/ada.png"]
    static let adaJSON = #"{"id":"user_ada","email":"ada@example.test","name":"Ada","avatar_url":"https://img.test/ada.png"}"#

    @Test func aVerifiableTokenOfAKnownUserIsAnsweredAtOnce() async throws {
        let key = try TestKey.shared(.rsa2048)
        try await Self.withRig(keySource: StaticKeySource(keys: TokenFactory.keySet([key]))) { rig in
            let headers = Self.token(key, sub: "user_ada", extra: Self.adaProfile)
            // Verified on the spot the first time, from this loop's cache the second.
            for _ in 0..<2 {
                let response = try Self.now(await rig.me(headers))
                #expect(response.status == .ok)
                #expect(response.body == Self.adaJSON)
            }
            // The rejections are answered at once too.
            #expect(try Self.now(await rig.me([:])) == UserEndpoints.unauthenticated)
            // …and the user was recorded as the asynchronous path recorded it.
            try await rig.directory.flush().get()
            let listed = try await rig.store.listAll(app: rig.app.config.id, on: MultiThreadedEventLoopGroup.singleton.next()).get()
            #expect(listed.map(\.id) == ["user_ada"])
            #expect(listed.first?.profile.email == "ada@example.test")
        }
    }

    @Test func aFirstProfileLookUpIsAwaitedThenTheAnswerIsImmediate() async throws {
        let key = try TestKey.shared(.rsa2048)
        let lookups = NIOLockedValueBox<[EventLoopPromise<UserProfile?>]>([])
        let keys = StaticKeySource(keys: TokenFactory.keySet([key]))
        try await Self.withRig(keySource: keys, lookup: { _, eventLoop in
            let promise = eventLoop.makePromise(of: UserProfile?.self)
            lookups.withLockedValue { $0.append(promise) }
            return promise.futureResult
        }) { rig in
            // The claims lack name and picture: the first request waits for the look-up,
            // and so does a second one meanwhile (the same look-up).
            let headers = Self.token(key, sub: "user_ada", extra: ["email": "ada@example.test"])
            let first = try Self.later(await rig.me(headers))
            let second = try Self.later(await rig.me(headers))
            let started = lookups.withLockedValue { $0 }
            #expect(started.count == 1)
            started.first?.succeed(UserProfile(name: "Ada", avatarURL: "https://img.test/ada.png"))
            #expect(try await first.get().body == Self.adaJSON)
            #expect(try await second.get().body == Self.adaJSON)
            // Known now: answered at once, with the looked-up fields, and not looked up again.
            #expect(try Self.now(await rig.me(headers)).body == Self.adaJSON)
            #expect(lookups.withLockedValue { $0.count } == 1)
        }
    }

    @Test func anUnknownKidWaitsForTheRefetchThenAnswersAtOnce() async throws {
        let key = try TestKey.shared(.rsa2048)
        let source = RefetchingKeySource(refetched: MultiThreadedEventLoopGroup.singleton.next().makePromise())
        try await Self.withRig(keySource: source) { rig in
            let headers = Self.token(key, sub: "user_ada", extra: Self.adaProfile)
            let answer = try Self.later(await rig.me(headers))
            source.refetched.succeed(KeySnapshot(keys: TokenFactory.keySet([key]), loaded: true))
            let response = try await answer.get()
            #expect(response.status == .ok)
            #expect(response.body == Self.adaJSON)
            // The key is known now and the token cached: the next request is answered at once.
            #expect(try Self.now(await rig.me(headers)).body == Self.adaJSON)
        }
    }
}
