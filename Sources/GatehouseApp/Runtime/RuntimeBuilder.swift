import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseMetering
import GatehouseProxy
import GatehouseUsers
import Logging
import NIOCore

/// Turns the configuration snapshot into the immutable runtime every loop shares:
/// per-app key sources, dev issuers and upstream endpoints. Runs at start and on each
/// reload, off the event loops (it may read key files).
struct RuntimeBuilder {
    struct Built: Sendable {
        let runtime: ProxyRuntime
        let providers: [JWKSProvider]
        /// State a reload keeps when the part of the configuration it depends on is unchanged.
        let carried: CarriedState
    }

    /// What a reload takes over from the runtime it replaces, so that a reload is
    /// invisible to clients: JWKS providers keep their keys (no refetch, no `/readyz` dip),
    /// a generated dev key keeps signing (issued dev tokens stay valid), rate-limit
    /// buckets keep their counts, the monthly org counter keeps the calls of this
    /// process that are not in the logs yet, and an unchanged upstream keeps its
    /// endpoint — so the loops' pools keep its kept-alive connections (they close those of
    /// every endpoint a reload replaced).
    struct CarriedState: Sendable {
        /// By ``endpointKey(app:role:url:)``; only endpoints without a `ca_file`, whose
        /// trust a reload could not see change (a CA bundle rewritten in place must reach
        /// new connections: such an endpoint is built anew, its connections closed).
        var endpoints: [String: UpstreamEndpoint] = [:]
        /// By ``providerKey(app:url:timeoutMs:)``.
        var providers: [String: JWKSProvider] = [:]
        /// Generated dev issuers (no `dev_key_file`) by app id.
        var devIssuers: [String: DevIssuer] = [:]
        /// By org.
        var monthCounters: [String: OrgMonthCounter] = [:]
        /// By app id, with the quotas they were built for.
        var quotas: [String: (config: QuotasConfiguration, org: String, guard: QuotaGuard)] = [:]

        static func providerKey(app: String, url: String, timeoutMs: Int) -> String {
            "\(app)\n\(url)\n\(timeoutMs)"
        }

        static func endpointKey(app: String, role: String, url: UpstreamURL) -> String {
            "\(app)\n\(role)\n\(url)"
        }
    }

    let configuration: GatehouseConfiguration
    let group: EventLoopGroup
    let clock: @Sendable () -> Double
    let logger: Logger
    /// Where users seen by the gate and `/_auth/me` go; `nil` records nobody.
    var users: UserDirectory? = nil
    /// The state of the runtime this build replaces (reload); empty at start.
    var previous = CarriedState()

    /// Builds the runtime. New JWKS providers are returned unstarted; carried-over ones
    /// are already running.
    func build() throws -> Built {
        var apps: [AppRuntime] = []
        var providers: [JWKSProvider] = []
        var carried = CarriedState()
        var monthCounters: [String: OrgMonthCounter] = [:]
        for (index, app) in configuration.apps.enumerated() {
            var app = app
            let devIssuer: DevIssuer?
            if app.auth.mode == .dev, app.auth.devKeyFile == nil, let kept = previous.devIssuers[app.id] {
                devIssuer = kept
            } else {
                devIssuer = try makeDevIssuer(app)
            }
            if app.auth.mode == .dev, app.auth.devKeyFile == nil { carried.devIssuers[app.id] = devIssuer }
            let keySource: KeySource?
            if let devIssuer {
                keySource = StaticKeySource(keys: devIssuer.keySet)
            } else if let pem = app.auth.jwtKey {
                _ = try jwksURL(&app)  // clerk: the issuer still derives from the publishable key
                keySource = StaticKeySource(keys: try Self.pemKeySet(pem, app: app.id))
            } else if let url = try jwksURL(&app) {
                let timeoutMs = configuration.limits.upstreamConnectTimeoutMs
                let key = CarriedState.providerKey(app: app.id, url: url, timeoutMs: timeoutMs)
                let provider = try previous.providers[key] ?? JWKSProvider(
                    appID: app.id, jwksURL: url, eventLoop: group.next(),
                    fetchTimeout: .milliseconds(Int64(timeoutMs)),
                    clock: clock, logger: logger
                )
                carried.providers[key] = provider
                providers.append(provider)
                keySource = provider
            } else {
                keySource = nil
            }
            var month: OrgMonthCounter?
            if app.quotas.orgRequestsPerMonth > 0 {
                if let existing = monthCounters[app.org] ?? previous.monthCounters[app.org] {
                    month = existing
                    monthCounters[app.org] = existing
                } else {
                    // Seeded from this month's logs of every instance: the count survives a restart.
                    let nowMs = Int64(clock() * 1000)
                    let seed = MeterLogReader.countRecords(directory: configuration.metering.dir, org: app.org, monthOf: nowMs)
                    let counter = OrgMonthCounter(seed: seed, nowMs: nowMs)
                    monthCounters[app.org] = counter
                    month = counter
                }
            }
            let quota: QuotaGuard
            if let kept = previous.quotas[app.id], kept.config == app.quotas, kept.org == app.org {
                quota = kept.guard
            } else {
                quota = QuotaGuard(app.quotas, month: month)
            }
            carried.quotas[app.id] = (app.quotas, app.org, quota)
            let appUsers = try users.map { AppUsers(appID: app.id, directory: $0, lookup: try Self.profileLookup(app)) }
            let appEndpoint = try endpoint(app: app.id, role: "app", url: app.upstream, caFile: nil, carried: &carried)
            let apiEndpoint = try endpoint(app: app.id, role: "api", url: app.api.upstream, caFile: app.api.caFile, carried: &carried)
            apps.append(try AppRuntime(
                config: app, index: index, keySource: keySource, devIssuer: devIssuer, quota: quota, users: appUsers,
                appEndpoint: appEndpoint, apiEndpoint: apiEndpoint
            ))
        }
        carried.monthCounters = monthCounters
        return Built(runtime: ProxyRuntime(apps: apps), providers: providers, carried: carried)
    }

    /// The replaced runtime's endpoint for the same app, role and URL when there is one
    /// and no `ca_file` is involved, else a new one.
    private func endpoint(app: String, role: String, url: UpstreamURL, caFile: String?, carried: inout CarriedState) throws -> UpstreamEndpoint {
        guard caFile == nil else { return try UpstreamEndpoint(url: url, caFile: caFile) }
        let key = CarriedState.endpointKey(app: app, role: role, url: url)
        let endpoint = try previous.endpoints[key] ?? UpstreamEndpoint(url: url)
        carried.endpoints[key] = endpoint
        return endpoint
    }

    /// The JWKS URL: `jwks_url`, else (clerk) derived from the publishable key, which
    /// also fixes the default issuer (SPEC "clerk mode").
    /// The JWKS URL: `jwks_url`, else (clerk) derived from the publishable key. In clerk
    /// mode the publishable key also names the issuer (`https://<frontend API host>`)
    /// unless `issuer` is set, wherever the keys come from (SPEC "clerk mode").
    private func jwksURL(_ app: inout AppConfiguration) throws -> String? {
        var derived: String?
        if app.auth.mode == .clerk, let pk = app.auth.publishableKey {
            guard let url = ClerkPublishableKey.jwksURL(pk), let issuer = ClerkPublishableKey.issuer(pk) else {
                throw RuntimeBuildError(description: "apps[\(app.id)].auth.publishable_key: not a Clerk publishable key")
            }
            if app.auth.issuer == nil { app.auth.issuer = issuer }
            derived = url
        }
        return app.auth.jwksURL ?? derived
    }

    /// Clerk mode with a `secret_key`: profile fields the claims lack come from Clerk's
    /// Backend API at `clerk_api_url` (SPEC "Auth endpoints").
    static func profileLookup(_ app: AppConfiguration) throws -> ProfileLookup? {
        guard app.auth.mode == .clerk, let secret = app.auth.secretKey else { return nil }
        do {
            return try ClerkProfileFetcher(apiURL: app.auth.clerkAPIURL, secretKey: secret.value).profileLookup
        } catch {
            throw RuntimeBuildError(description: "apps[\(app.id)].auth.clerk_api_url: cannot be used: \(error)")
        }
    }

    private func makeDevIssuer(_ app: AppConfiguration) throws -> DevIssuer? {
        guard app.auth.mode == .dev else { return nil }
        let signer: TokenSigner
        if let path = app.auth.devKeyFile {
            let pem: String
            do {
                pem = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw RuntimeBuildError(description: "apps[\(app.id)].auth.dev_key_file: cannot read \(path)")
            }
            do {
                signer = try TokenSigner(pkcs8PEM: pem, kid: "dev-" + String(APIKeyHash.hex(Array(pem.utf8)).prefix(8)))
            } catch {
                throw RuntimeBuildError(description: "apps[\(app.id)].auth.dev_key_file: not a PKCS#8 private key: \(path)")
            }
        } else {
            signer = TokenSigner.generateEd25519(kid: "dev-" + String(UInt32.random(in: 0...UInt32.max), radix: 16))
        }
        return try DevIssuer(signer: signer, appID: app.id)
    }

    static func pemKeySet(_ pem: String, app: String) throws -> VerificationKeySet {
        do {
            return VerificationKeySet(keys: [try VerificationKey(pem: pem)])
        } catch {
            throw RuntimeBuildError(description: "apps[\(app)].auth.jwt_key: not a PEM public key")
        }
    }
}

/// Configuration that parsed but cannot be put to use (unreadable key file, bad key).
public struct RuntimeBuildError: Error, CustomStringConvertible {
    public let description: String
}
