import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseProxy
import GatehouseTesting
import Testing

/// Every rejection reason of SPEC "The /_api gate" end to end: a real JWKS issuer, real
/// upstreams and Gatehouse on 127.0.0.1, real signed (and forged) tokens.
@Suite struct GateRejectionLiveTests {
    /// One bad credential per reason; each must be refused with that exact reason and
    /// never reach the API upstream.
    enum BadCredential: String, CaseIterable, Sendable {
        case basicScheme, bearerWithoutToken, unknownKey, badSignature, expired, notYetValid, badIssuer, badAudience
        case algNone, hs256, unknownKid, crit, embeddedJWK, garbledSegments

        var reason: String {
            switch self {
            case .basicScheme, .bearerWithoutToken, .crit, .embeddedJWK, .garbledSegments: return "malformed"
            case .unknownKey: return "unknown_key"
            case .badSignature: return "bad_signature"
            case .expired: return "expired"
            case .notYetValid: return "not_yet_valid"
            case .badIssuer: return "bad_issuer"
            case .badAudience: return "bad_audience"
            case .algNone, .hs256: return "unsupported_alg"
            case .unknownKid: return "unknown_kid"
            }
        }

        func authorization(_ rig: GateRig) throws -> String {
            let now = Gate.now
            let claims = TokenFactory.claims(sub: "user_bad", now: now, ttl: 120, iss: GateRig.issuer, aud: .string(GateRig.audience))
            switch self {
            case .basicScheme: return "Basic dXNlcjpwYXNz"
            case .bearerWithoutToken: return "Bearer "
            case .unknownKey: return "Bearer sk_not_a_known_key"
            case .badSignature:
                let impostor = try TestKey.generate(.rsa2048).withKid(rig.key.kid)
                return "Bearer " + rig.token(key: impostor)
            case .expired: return "Bearer " + rig.token(ttl: 60, now: now - 3_600)
            case .notYetValid: return "Bearer " + rig.token(extra: ["nbf": .number(now + 3_600)])
            case .badIssuer: return "Bearer " + rig.token(iss: "https://issuer.test/")
            case .badAudience: return "Bearer " + rig.token(aud: .array(["other", "API"]))
            case .algNone:
                return "Bearer " + TokenFactory.forgedToken(header: ["alg": "none", "typ": "JWT", "kid": .string(rig.key.kid)], claims: claims, signature: [])
            case .hs256:
                // Keyed with the public key text, the classic RS256 → HS256 confusion.
                let secret = Array(rig.key.publicKeyPEM.utf8)
                return "Bearer " + TokenFactory.hmacToken(secret: secret, header: ["alg": "HS256", "typ": "JWT", "kid": .string(rig.key.kid)], claims: claims)
            case .unknownKid: return "Bearer " + rig.token(key: rig.key.withKid("kid-nobody-published"))
            case .crit:
                return "Bearer " + TokenFactory.token(key: rig.key, header: ["crit": ["exp"]], claims: claims)
            case .embeddedJWK:
                let attacker = try TestKey.generate(.p256)
                return "Bearer " + TokenFactory.token(key: attacker, header: ["jwk": .object(attacker.publicJWK()), "kid": .string(rig.key.kid)], claims: claims)
            case .garbledSegments: return "Bearer abc.def.ghi"
            }
        }
    }

    @Test(arguments: BadCredential.allCases)
    func badCredentialIsRejectedWithItsReason(_ credential: BadCredential) async throws {
        let rig = try await GateRig.start()
        let response = try await rig.gatehouse.request("GET", "/_api/v1/items", headers: [("Authorization", try credential.authorization(rig))])
        Gate.expectRejected(response, credential.reason)
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }

    @Test func unauthorizedPartyNeedsAListedAzp() async throws {
        let rig = try await GateRig.start(auth: { $0.authorizedParties = ["https://myapp.test"] })
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(azp: "https://evil.test"))), "unauthorized_party")
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token())), "unauthorized_party")
        #expect(rig.api.requests.isEmpty)
        let ok = try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(azp: "https://myapp.test")))
        #expect(ok.status == 200)
        #expect(rig.api.requests.count == 1)
        await rig.stop()
    }

    @Test func apiKeyActsAsService() async throws {
        let apiKey = "sk_live_ingest_31f7"
        let rig = try await GateRig.start(auth: { $0.apiKeys = [APIKeyConfiguration(name: "ingest-lambda", sha256: APIKeyHash.hex(apiKey))] })
        let ok = try await rig.gatehouse.request("POST", "/_api/v1/ingest", headers: Gate.bearer(apiKey), body: Array("{}".utf8))
        #expect(ok.status == 200)
        let recorded = try #require(rig.api.requests.first)
        #expect(recorded.values("X-Gatehouse-User") == ["service:ingest-lambda"])
        #expect(recorded.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
        #expect(recorded.body == Array("{}".utf8))
        // A near miss is not a key; an api key is never taken from a cookie.
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(apiKey + "x")), "unknown_key")
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: [("Cookie", "__session=" + apiKey)]), "unknown_key")
        #expect(rig.api.requests.count == 1)
        await rig.stop()
    }

    @Test func sessionCookieAndSuffixedVariantAreAccepted() async throws {
        let rig = try await GateRig.start()
        let plain = try await rig.gatehouse.request("GET", "/_api/a", headers: [("Cookie", "theme=dark; __session=" + rig.token(sub: "user_plain"))])
        #expect(plain.status == 200)
        let suffixed = try await rig.gatehouse.request("GET", "/_api/b", headers: [("Cookie", "__session_Xy12ab=" + rig.token(sub: "user_suffix"))])
        #expect(suffixed.status == 200)
        #expect(rig.api.requests.map { $0.values("X-Gatehouse-User") } == [["user_plain"], ["user_suffix"]])
        // A bad cookie token is a bad credential, not an anonymous request.
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/c", headers: [("Cookie", "__session=" + rig.token(ttl: 10, now: Gate.now - 600))]), "expired")
        await rig.stop()
    }

    @Test func authorizationHeaderWinsOverCookie() async throws {
        let rig = try await GateRig.start()
        let cookie = ("Cookie", "__session=" + rig.token(sub: "user_cookie"))
        // An invalid header is not rescued by a valid cookie.
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Bearer junk"), cookie]), "unknown_key")
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Token abc"), cookie]), "malformed")
        #expect(rig.api.requests.isEmpty)
        // A valid header decides the identity even beside another user's cookie.
        let ok = try await rig.gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Bearer " + rig.token(sub: "user_header")), cookie])
        #expect(ok.status == 200)
        #expect(rig.api.requests.first?.values("X-Gatehouse-User") == ["user_header"])
        await rig.stop()
    }

    @Test func cookieTokenOlderThanClientUATIsExpired() async throws {
        let rig = try await GateRig.start()
        let now = Gate.now
        let stale = rig.token(sub: "user_stale", ttl: 300, now: now - 100)
        let response = try await rig.gatehouse.request("GET", "/_api/x", headers: [("Cookie", "__session=\(stale); __client_uat=\(Int(now))")])
        Gate.expectRejected(response, "expired")
        // Suffixed pair: the matching __client_uat_<suffix> applies.
        let suffixed = try await rig.gatehouse.request("GET", "/_api/x", headers: [("Cookie", "__client_uat_ab=\(Int(now)); __session_ab=\(stale)")])
        Gate.expectRejected(suffixed, "expired")
        #expect(rig.api.requests.isEmpty)
        // A sign-in change before the token was issued leaves it valid.
        let fresh = try await rig.gatehouse.request("GET", "/_api/x", headers: [("Cookie", "__session=\(stale); __client_uat=\(Int(now) - 200)")])
        #expect(fresh.status == 200)
        // The rule is about cookies: the same token as a bearer header is fine.
        let header = try await rig.gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Bearer " + stale), ("Cookie", "__client_uat=\(Int(now))")])
        #expect(header.status == 200)
        await rig.stop()
    }

    @Test func queryStringTokenIsNeverAccepted() async throws {
        let rig = try await GateRig.start()
        let token = rig.token()
        for name in ["token", "access_token", "__session", "authorization", "jwt"] {
            Gate.expectMissing(try await rig.gatehouse.request("GET", "/_api/x?\(name)=\(token)"))
        }
        #expect(rig.api.requests.isEmpty)
        await rig.stop()
    }

    @Test func policyAllowEmails() async throws {
        let rig = try await GateRig.start { $0.apps[0].policy.allowEmails = ["alice@example.com"] }
        Gate.expectForbidden(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(extra: ["email": "bob@example.com"]))))
        Gate.expectForbidden(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token())))
        #expect(rig.api.requests.isEmpty)
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(extra: ["email": "Alice@example.com"]))).status == 200)
        await rig.stop()
    }

    @Test func policyAllowEmailDomains() async throws {
        let rig = try await GateRig.start { $0.apps[0].policy.allowEmailDomains = ["example.com"] }
        Gate.expectForbidden(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(extra: ["email": "eve@example.com.evil.test"]))))
        Gate.expectForbidden(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(extra: ["email": "eve@evilexample.com"]))))
        #expect(rig.api.requests.isEmpty)
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(extra: ["email": "carol@example.com"]))).status == 200)
        await rig.stop()
    }

    @Test func policyRequireClaims() async throws {
        let rig = try await GateRig.start { $0.apps[0].policy.requireClaims = ["role": "admin"] }
        Gate.expectForbidden(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(extra: ["role": "user"]))))
        Gate.expectForbidden(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token())))
        #expect(rig.api.requests.isEmpty)
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(extra: ["role": "admin"]))).status == 200)
        await rig.stop()
    }

    @Test func authModeNoneLetsAnonymousThroughButNotBadCredentials() async throws {
        let rig = try await GateRig.start(auth: { $0.mode = .none })
        let anonymous = try await rig.gatehouse.request("GET", "/_api/public", headers: [("X-Gatehouse-User", "user_admin")])
        #expect(anonymous.status == 200)
        #expect(rig.api.requests.first?.values("X-Gatehouse-User") == ["anonymous"])
        #expect(rig.api.requests.first?.values("Authorization") == ["Bearer " + TestGatehouse.ownerKey])
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer("garbage")), "unknown_key")
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: [("Authorization", "Basic Zm9vOmJhcg==")]), "malformed")
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(ttl: 1, now: Gate.now - 600))), "expired")
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: [("Cookie", "__session=" + rig.token(iss: "https://evil.test"))]), "bad_issuer")
        #expect(rig.api.requests.count == 1)
        // A valid token still names its user.
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token(sub: "user_named"))).status == 200)
        #expect(rig.api.requests.last?.values("X-Gatehouse-User") == ["user_named"])
        await rig.stop()
    }

    @Test func devModeIssuesTokensTheGateAccepts() async throws {
        let rig = try await GateRig.start(auth: { auth in
            auth.mode = .dev
            auth.jwksURL = nil
            // Ignored in dev mode (SPEC "Dev mode").
            auth.issuer = "https://configured-issuer.test"
            auth.audience = ["configured-audience"]
            auth.authorizedParties = ["https://configured-party.test"]
        })
        let minted = try await rig.gatehouse.request(
            "POST", "/_auth/dev/token", headers: [("Content-Type", "application/json")],
            body: Array(#"{"email":"dev@example.com","name":"Dev User"}"#.utf8))
        #expect(minted.status == 200)
        let fields = try #require(Gate.json(minted))
        let token = try #require(fields["token"] as? String)
        let expiresAt = try #require(fields["expires_at"] as? Double)
        #expect(expiresAt > Gate.now)

        let ok = try await rig.gatehouse.request("GET", "/_api/v1/me", headers: Gate.bearer(token))
        #expect(ok.status == 200)
        #expect(rig.api.requests.first?.values("X-Gatehouse-User") == [DevIssuer.subject(forEmail: "dev@example.com")])
        #expect(DevIssuer.subject(forEmail: "dev@example.com").hasPrefix("dev_"))

        let jwks = try await rig.gatehouse.request("GET", "/_auth/jwks.json")
        #expect(jwks.status == 200)
        let keys = try #require(Gate.json(jwks)?["keys"] as? [[String: Any]])
        #expect(keys.count == 1)
        #expect(keys.first?["kty"] as? String == "OKP")
        #expect(keys.first?["crv"] as? String == "Ed25519")
        #expect(rig.app.requests.isEmpty)

        // A token carrying the configured issuer/audience but signed elsewhere is refused,
        // and so is a token with the dev key's kid but another key.
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(rig.token())), "unknown_kid")
        let kid = try #require(keys.first?["kid"] as? String)
        let impostor = try TestKey.generate(.ed25519, kid: kid)
        let forged = TokenFactory.token(key: impostor, claims: TokenFactory.claims(now: Gate.now, iss: DevIssuer.issuer, aud: "app_test"))
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(forged)), "bad_signature")
        #expect(rig.api.requests.count == 1)

        // A malformed token request is a 400, not a token.
        let bad = try await rig.gatehouse.request("POST", "/_auth/dev/token", body: Array(#"{"name":"x"}"#.utf8))
        #expect(bad.status == 400)
        await rig.stop()
    }

    @Test func keysBelongToTheirApp() async throws {
        // Two apps, each with its own issuer key under the SAME kid.
        let keyA = try TestKey.generate(.p256, kid: "kid-shared")
        let keyB = try TestKey.generate(.p256, kid: "kid-shared")
        let jwksB = try await JWKSServer.start(jwks: String(decoding: TokenFactory.jwksJSON(keys: [keyB]), as: UTF8.self))
        let apiB = try await TestHTTPServer.start { _ in .fixed(body: "api b") }
        let rig = try await GateRig.start(key: keyA) { config in
            config.apps[0].id = "app_a"
            config.apps[0].hosts = ["a.test"]
            var b = config.apps[0]
            b.id = "app_b"
            b.org = "org_b"
            b.hosts = ["b.test"]
            b.auth.jwksURL = jwksB.url
            b.api.upstream = UpstreamURL(parsing: apiB.url) ?? b.api.upstream
            config.apps.append(b)
        }
        let tokenA = rig.token(key: keyA, sub: "user_a")
        let tokenB = rig.token(key: keyB, sub: "user_b")
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(tokenA), host: "b.test"), "bad_signature")
        Gate.expectRejected(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(tokenB), host: "a.test"), "bad_signature")
        #expect(rig.api.requests.isEmpty)
        #expect(apiB.requests.isEmpty)
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(tokenA), host: "a.test").status == 200)
        #expect(try await rig.gatehouse.request("GET", "/_api/x", headers: Gate.bearer(tokenB), host: "B.TEST:8080").status == 200)
        #expect(rig.api.requests.map { $0.values("X-Gatehouse-App") } == [["app_a"]])
        #expect(apiB.requests.map { $0.values("X-Gatehouse-App") } == [["app_b"]])
        #expect(apiB.requests.map { $0.values("X-Gatehouse-User") } == [["user_b"]])
        await rig.stop()
        await apiB.stop()
        await jwksB.stop()
    }
}
