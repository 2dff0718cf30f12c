import GatehouseAuth
import NIOCore

/// One app's view of the user list: what the gate, `/_auth/me` and `/_auth/users` call.
/// Immutable and shared by every event loop; the state lives in the ``UserDirectory``.
public final class AppUsers: Sendable {
    public let appID: String
    public let directory: UserDirectory
    /// Fills fields the claims lack (clerk mode with a `secret_key`), else `nil`.
    let lookup: ProfileLookup?

    public init(appID: String, directory: UserDirectory, lookup: ProfileLookup? = nil) {
        self.appID = appID
        self.directory = directory
        self.lookup = lookup
    }

    /// The profile a verified token's claims give (`email`; `name` else `given_name` +
    /// `family_name`; `picture` else `image_url`).
    public static func profile(of token: VerifiedToken) -> UserProfile {
        UserProfile(email: token.email, name: token.name, avatarURL: token.picture)
    }

    /// The gate let `token`'s user through at `now`: remember it (memory only; the store
    /// is written by the directory's flush). Runs on the request's event loop; takes one
    /// shard lock, and at most once per user starts a profile look-up that completes later.
    public func saw(_ token: VerifiedToken, now: Double, on eventLoop: EventLoop) {
        _ = sight(id: token.subject, claims: Self.profile(of: token), now: now, on: eventLoop)
    }

    /// The user's profile as `/_auth/me` answers it: ``Resolution/known`` now, unless the
    /// user's first look-up is under way. Every call after that look-up answers without a
    /// future, so the endpoint answers on the spot (the SDK asks on every page load).
    public enum Resolution: Sendable {
        case known(UserProfile)
        case awaitingLookup(EventLoopFuture<UserProfile>)
    }

    /// Like ``saw(_:now:on:)``, and the user's profile as `/_auth/me` answers it.
    public func resolve(_ token: VerifiedToken, now: Double, on eventLoop: EventLoop) -> Resolution {
        resolve(id: token.subject, claims: Self.profile(of: token), now: now, on: eventLoop)
    }

    /// Records user `id` seen with `claims` at `now` and answers the profile as known:
    /// when a first look-up is under way its result is awaited (bounded by the fetch's
    /// timeout; a failure only leaves the fields `nil`).
    public func resolve(id: String, claims: UserProfile, now: Double, on eventLoop: EventLoop) -> Resolution {
        let (known, pending) = sight(id: id, claims: claims, now: now, on: eventLoop)
        guard let pending else { return .known(known) }
        return .awaitingLookup(pending.hop(to: eventLoop).map { found in
            known.filling(from: found ?? UserProfile())
        }.recover { _ in known })
    }

    /// One page of the app's users, after writing what is pending so the page includes
    /// everyone seen so far.
    public func page(after cursor: UserCursor?, limit: Int, on eventLoop: EventLoop) -> EventLoopFuture<[UserRecord]> {
        let store = directory.store
        let app = appID
        return directory.flush().hop(to: eventLoop).recover { _ in }.flatMap {
            store.list(app: app, after: cursor?.lastID, limit: limit, on: eventLoop)
        }
    }

    private func sight(id: String, claims: UserProfile, now: Double, on eventLoop: EventLoop) -> (UserProfile, EventLoopFuture<UserProfile?>?) {
        let result = directory.sight(app: appID, id: id, claims: claims, now: now, lookupOn: lookup == nil ? nil : eventLoop)
        if case .startLookup(let promise) = result.action, let lookup {
            let directory = self.directory
            let app = appID
            lookup(id, eventLoop).recover { _ in nil }.whenSuccess { found in
                _ = directory.lookupFinished(app: app, id: id, found: found)
                promise.succeed(found)
            }
        }
        return (result.profile, result.pending)
    }
}
