import Crypto
import _CryptoExtras

extension VerificationKey {
    /// Loads a public key from a JWK (RFC 7517/7518/8037): `kty` RSA (`n`, `e`), EC (`crv`
    /// P-256 or P-384, `x`, `y`) or OKP (`crv` Ed25519, `x`).
    ///
    /// A JWK with `use` other than `sig`, or `key_ops` without `verify`, is refused; an `alg`
    /// restricts the key to that one algorithm, and an `alg` Gatehouse does not verify makes the
    /// key unusable (it may not be used with any other).
    public init(jwk: [String: JSONValue]) throws(AuthKeyError) {
        guard let kty = jwk["kty"]?.stringValue else { throw .missingMember("kty") }
        if let use = jwk["use"] {
            guard use.stringValue == "sig" else { throw .notForSignatures }
        }
        if let ops = jwk["key_ops"] {
            guard let list = ops.arrayValue, list.contains(.string("verify")) else { throw .notForSignatures }
        }
        var algorithm: JWTAlgorithm?
        if let alg = jwk["alg"] {
            guard let name = alg.stringValue else { throw .missingMember("alg") }
            guard let known = JWTAlgorithm(rawValue: name) else { throw .unsupportedKeyType }
            algorithm = known
        }
        var kid: String?
        if let k = jwk["kid"] {
            guard let s = k.stringValue else { throw .missingMember("kid") }
            kid = s
        }

        let material: Material
        switch kty {
        case "RSA":
            let n = try Self.bytes(jwk, "n")
            let e = try Self.bytes(jwk, "e")
            guard let key = try? _RSA.Signing.PublicKey(n: n, e: e) else { throw .invalidKeyMaterial }
            material = .rsa(key)
        case "EC":
            guard let crv = jwk["crv"]?.stringValue else { throw .missingMember("crv") }
            let x = try Self.bytes(jwk, "x")
            let y = try Self.bytes(jwk, "y")
            let point = [0x04] + x + y
            switch crv {
            case "P-256":
                guard x.count == 32, y.count == 32,
                    let key = try? P256.Signing.PublicKey(x963Representation: point)
                else { throw .invalidKeyMaterial }
                material = .p256(key)
            case "P-384":
                guard x.count == 48, y.count == 48,
                    let key = try? P384.Signing.PublicKey(x963Representation: point)
                else { throw .invalidKeyMaterial }
                material = .p384(key)
            default:
                throw .unsupportedKeyType
            }
        case "OKP":
            guard let crv = jwk["crv"]?.stringValue else { throw .missingMember("crv") }
            guard crv == "Ed25519" else { throw .unsupportedKeyType }
            let x = try Self.bytes(jwk, "x")
            guard x.count == 32, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x) else {
                throw .invalidKeyMaterial
            }
            material = .ed25519(key)
        default:
            throw .unsupportedKeyType
        }
        try self.init(kid: kid, algorithm: algorithm, material: material)
    }

    private static func bytes(_ jwk: [String: JSONValue], _ name: String) throws(AuthKeyError) -> [UInt8] {
        guard let s = jwk[name]?.stringValue else { throw .missingMember(name) }
        guard let b = Base64URL.decode(s), !b.isEmpty else { throw .invalidKeyMaterial }
        return b
    }

    /// The public JWK for this key, with `kid` (when set), `use: "sig"` and `alg` (its
    /// restriction, or the one algorithm its type allows; RS256 for unrestricted RSA keys).
    public var jwk: [String: JSONValue] {
        var out: [String: JSONValue] = ["use": "sig"]
        if let kid { out["kid"] = .string(kid) }
        switch material {
        case .rsa(let key):
            out["kty"] = "RSA"
            if let p = try? key.getKeyPrimitives() {
                out["n"] = .string(Base64URL.encode(p.modulus))
                out["e"] = .string(Base64URL.encode(p.publicExponent))
            }
            out["alg"] = .string((algorithm ?? .rs256).rawValue)
        case .p256(let key):
            out["kty"] = "EC"
            out["crv"] = "P-256"
            let raw = Array(key.rawRepresentation)
            out["x"] = .string(Base64URL.encode(raw[0..<32]))
            out["y"] = .string(Base64URL.encode(raw[32..<64]))
            out["alg"] = "ES256"
        case .p384(let key):
            out["kty"] = "EC"
            out["crv"] = "P-384"
            let raw = Array(key.rawRepresentation)
            out["x"] = .string(Base64URL.encode(raw[0..<48]))
            out["y"] = .string(Base64URL.encode(raw[48..<96]))
            out["alg"] = "ES384"
        case .ed25519(let key):
            out["kty"] = "OKP"
            out["crv"] = "Ed25519"
            out["x"] = .string(Base64URL.encode(key.rawRepresentation))
            out["alg"] = "EdDSA"
        }
        return out
    }
}
