import ArgumentParser
import Foundation
import GatehouseAuth

/// `gatehouse token`: dev and test tokens.
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Token helpers.", subcommands: [Mint.self])

    /// `gatehouse token mint`: sign a JWT with a PKCS#8 private key (RSA → RS256,
    /// P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA) and print it alone on one line.
    struct Mint: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a token with a PKCS#8 PEM private key.")

        @Option(name: .long, help: "PKCS#8 PEM private key file.") var key: String
        @Option(name: .long, help: "Key id for the header.") var kid: String?
        @Option(name: .long, help: "Subject (user id).") var sub: String = "user_dev"
        @Option(name: .long) var email: String?
        @Option(name: .long) var name: String?
        @Option(name: .long, help: "Lifetime: 3600, 90s, 30m, 1h, 1d.") var ttl: String = "1h"
        @Option(name: .long, help: "Issuer.") var iss: String?
        @Option(name: .long, help: "Audience.") var aud: String?
        @Option(name: .long, help: "Authorized party.") var azp: String?

        func run() throws {
            guard let lifetime = Self.parseDuration(ttl) else { throw CLIError(description: "token mint: --ttl: not a duration: \(ttl)") }
            let pem: String
            do {
                pem = try String(contentsOfFile: key, encoding: .utf8)
            } catch {
                throw CLIError(description: "token mint: --key: cannot read \(key)")
            }
            let signer: TokenSigner
            do {
                signer = try TokenSigner(pkcs8PEM: pem, kid: kid)
            } catch {
                throw CLIError(description: "token mint: --key: not a PKCS#8 RSA, P-256, P-384 or Ed25519 private key: \(key)")
            }
            let now = Int64(Date().timeIntervalSince1970)
            var claims: [String: JSONValue] = [
                "sub": .string(sub), "iat": .number(Double(now)), "nbf": .number(Double(now)),
                "exp": .number(Double(now + lifetime)),
            ]
            if let email { claims["email"] = .string(email) }
            if let name { claims["name"] = .string(name) }
            if let iss { claims["iss"] = .string(iss) }
            if let aud { claims["aud"] = .string(aud) }
            if let azp { claims["azp"] = .string(azp) }
            do {
                print(try signer.sign(claims: claims))
            } catch {
                throw CLIError(description: "token mint: signing failed")
            }
        }

        static func parseDuration(_ text: String) -> Int64? {
            let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            guard let last = text.last else { return nil }
            if let unit = units[last], let n = Int64(text.dropLast()), n > 0 { return n * unit }
            if let n = Int64(text), n > 0 { return n }
            return nil
        }
    }
}
