import Atomics
import GatehouseAuth
import NIOCore

/// The keys an app verifies tokens with at one moment: immutable, swapped atomically
/// when a refresh lands, read without a lock on every request.
public final class KeySnapshot: AtomicReference, Sendable {
    public let keys: VerificationKeySet
    /// Whether a key set was ever loaded (else the gate answers 503 `auth_unavailable`).
    public let loaded: Bool

    public init(keys: VerificationKeySet, loaded: Bool) {
        self.keys = keys
        self.loaded = loaded
    }

    public static let unloaded = KeySnapshot(keys: .empty, loaded: false)
}

/// What the gate does about a token whose `kid` the current keys lack.
public enum UnknownKidResolution {
    case rejectUnknownKid
    case unavailable(retryAfter: Int)
    /// A refetch is under way: verify again with the keys it yields.
    case wait(EventLoopFuture<KeySnapshot>)
}

/// Where an app's verification keys come from: a JWKS URL, a configured PEM, or the
/// dev issuer's own key.
public protocol KeySource: Sendable {
    /// The current snapshot; lock-free, called on every request that needs a signature check.
    func currentKeys() -> KeySnapshot
    /// Rare path: called when a token's `kid` is not in `currentKeys()`.
    func resolveUnknownKid(now: Double, on eventLoop: EventLoop) -> UnknownKidResolution
}

/// Keys fixed at start (`auth.jwt_key`, dev mode): nothing to fetch, nothing to refresh.
public final class StaticKeySource: KeySource {
    private let snapshot: KeySnapshot

    public init(keys: VerificationKeySet) {
        self.snapshot = KeySnapshot(keys: keys, loaded: true)
    }

    public func currentKeys() -> KeySnapshot { snapshot }

    public func resolveUnknownKid(now: Double, on eventLoop: EventLoop) -> UnknownKidResolution {
        .rejectUnknownKid
    }
}
