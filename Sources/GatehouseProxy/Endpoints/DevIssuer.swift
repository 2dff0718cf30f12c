import Foundation
import GatehouseAuth
import GatehouseCore

/// Gatehouse as its own token issuer (SPEC "Dev mode"): an Ed25519 key, the JWKS that
/// publishes it, and short-lived tokens for an email and name. Immutable.
public final class DevIssuer: Sendable {
    public static let issuer = "gatehouse-dev"
    public static let tokenLifetime: Double = 3600

    public let signer: TokenSigner
    public let appID: String
    /// `/_auth/jwks.json`, serialised once.
    public let jwksJSON: String
    public let keySet: VerificationKeySet

    public init(signer: TokenSigner, appID: String) throws {
        self.signer = signer
        self.appID = appID
        let jwk = signer.publicJWK()
        self.jwksJSON = StrictJSON.serialize(.object(["keys": .array([.object(jwk)])]))
        self.keySet = VerificationKeySet(keys: [try VerificationKey(jwk: jwk)])
    }

    /// `sub` for an email: `dev_` + a stable hash, so the same person keeps one id.
    public static func subject(forEmail email: String) -> String {
        let normalized = email.trimmingCharacters(in: .whitespaces).lowercased()
        return "dev_" + String(APIKeyHash.hex(Array(normalized.utf8)).prefix(24))
    }

    /// Signs a token for the app; returns it with its `exp`.
    public func mint(email: String, name: String?, now: Double) throws -> (token: String, expiresAt: Int64) {
        let iat = Int64(now)
        let exp = iat + Int64(Self.tokenLifetime)
        var claims: [String: JSONValue] = [
            "iss": .string(Self.issuer),
            "aud": .string(appID),
            "sub": .string(Self.subject(forEmail: email)),
            "email": .string(email),
            "iat": .number(Double(iat)),
            "nbf": .number(Double(iat)),
            "exp": .number(Double(exp)),
        ]
        if let name, !name.isEmpty { claims["name"] = .string(name) }
        return (try signer.sign(claims: claims), exp)
    }
}
