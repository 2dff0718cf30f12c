import Benchmark
import GatehouseAuth
import GatehouseCore
import GatehouseMetering
import NIOCore
import NIOEmbedded
import NIOHTTP1
@_spi(Benchmarks) import GatehouseProxy

/// Allocation counts of Gatehouse's request path. `mallocCountTotal` is the metric the
/// committed thresholds (Thresholds/) pin; wall clock and throughput are for information
/// (a shared 2-core machine makes them noisy). Each iteration is one unit of work.
let benchmarks: @Sendable () -> Void = {
    // Allocations are deterministic: a p90 that moves by more than 2 allocations (3 for the
    // loopback round trip, which shares the process with timers and the metering thread)
    // is a real change.
    Benchmark.defaultConfiguration = .init(
        metrics: [.mallocCountTotal, .wallClock, .throughput],
        warmupIterations: 10,
        maxDuration: .seconds(2),
        maxIterations: 10_000,
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 2])]
    )

    let fixtures: Fixtures
    do {
        fixtures = try Fixtures()
    } catch {
        fatalError("benchmark fixtures: \(error)")
    }
    let verifier = TokenVerifier(policy: fixtures.policy)
    let eventLoop = EmbeddedEventLoop()

    // MARK: Gate

    let app: AppRuntime
    do {
        app = try AppRuntime(
            config: fixtures.appConfiguration(), index: 0, keySource: StaticKeySource(keys: fixtures.keys), devIssuer: nil
        )
    } catch {
        fatalError("AppRuntime: \(error)")
    }
    let apiHead = fixtures.browserAPIHead(token: fixtures.rsaToken)
    var cache = VerifiedTokenCache()
    // Warm: the first evaluation verifies and caches the token.
    guard case .accept = APIGate.evaluate(app: app, headers: apiHead.headers, cache: &cache, now: fixtures.now, eventLoop: eventLoop) else {
        fatalError("the gate did not accept the benchmark token")
    }

    Benchmark("Gate_cached_RS256_token") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(APIGate.evaluate(app: app, headers: apiHead.headers, cache: &cache, now: fixtures.now, eventLoop: eventLoop))
        }
    }

    Benchmark("Gate_cold_RS256_token") { benchmark in
        for _ in benchmark.scaledIterations {
            var empty = VerifiedTokenCache()
            blackHole(APIGate.evaluate(app: app, headers: apiHead.headers, cache: &empty, now: fixtures.now, eventLoop: eventLoop))
        }
    }

    // MARK: Token verification (cold: signature and claims every time)

    for (name, token) in [("RS256", fixtures.rsaToken), ("ES256", fixtures.es256Token), ("EdDSA", fixtures.edDSAToken)] {
        guard case .verified = verifier.verify(token, keys: fixtures.keys, now: fixtures.now) else {
            fatalError("\(name) benchmark token does not verify")
        }
        Benchmark("Verify_cold_\(name)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(verifier.verify(token, keys: fixtures.keys, now: fixtures.now))
            }
        }
    }

    // MARK: Header rewrite

    guard case .success(let target) = PathNormalizer.normalize(Fixtures.apiTarget) else { fatalError("target") }
    let rewrite = UpstreamRequestBuilder.APIRewrite(app: app.config)
    let requestID = RequestID(high: 0x4f9c_2b7d_1e0a_8365, low: 0x2c7b_9d0e_1f2a_3b4c)
    let user = "user_2NNEqL2nrIRdJ194ndJqAHwEfxC"
    let config = app.config

    Benchmark("Route_normalize_API_target") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(PathNormalizer.normalize(Fixtures.apiTarget))
        }
    }

    Benchmark("Headers_API_upstream_head") { benchmark in
        for _ in benchmark.scaledIterations {
            let inbound = UpstreamRequestBuilder.Inbound(
                head: apiHead, target: target, peer: "127.0.0.1", peerTrusted: false, requestID: requestID
            )
            blackHole(UpstreamRequestBuilder.apiRequest(inbound, app: config, rewrite: rewrite, user: user, into: ByteBuffer()))
        }
    }

    // MARK: Metering

    let record = MeterRecord(
        timestampMs: Int64(fixtures.now * 1000), org: "org_bench", app: "app_bench", user: user, method: "GET",
        path: "/v1/projects/42/items", status: 200, requestBytes: 0, responseBytes: 1_834, durationMs: 12.34,
        requestID: requestID, outcome: .ok
    )
    var line: [UInt8] = []
    line.reserveCapacity(4096)

    Benchmark("Meter_encode_JSON_line") { benchmark in
        for _ in benchmark.scaledIterations {
            line.removeAll(keepingCapacity: true)
            record.appendJSONLine(to: &line)
            blackHole(line.count)
        }
    }

    // MARK: HTML injection

    let page = Fixtures.htmlPage()
    var responseHeaders = HTTPHeaders()
    responseHeaders.add(name: "Content-Type", value: "text/html; charset=utf-8")
    responseHeaders.add(name: "Content-Encoding", value: "gzip")
    responseHeaders.add(name: "Content-Length", value: String(page.gzip.count))
    responseHeaders.add(name: "ETag", value: "\"5f2c-91b7e2\"")
    responseHeaders.add(name: "Cache-Control", value: "no-cache")
    responseHeaders.add(name: "Vary", value: "Accept-Encoding")
    let responseHead = HTTPResponseHead(version: .http1_1, status: .ok, headers: responseHeaders)
    // As the upstream connection reads it: 8 KiB pieces.
    let pieces: [ByteBuffer] = stride(from: 0, to: page.gzip.count, by: 8192).map {
        ByteBuffer(bytes: page.gzip[$0..<min($0 + 8192, page.gzip.count)])
    }

    Benchmark(
        "HTML_inject_64_KiB_gzip_page",
        configuration: .init(maxIterations: 2_000)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            let rewriter = HTMLResponseRewriter(app: config)
            precondition(rewriter.responseHead(responseHead))
            var out = 0
            do {
                for piece in pieces {
                    let output = try rewriter.bodyReceived(piece)
                    out += (output.body?.readableBytes ?? 0) + (output.rest?.readableBytes ?? 0)
                }
                out += try rewriter.bodyEnded().body?.readableBytes ?? 0
            } catch {
                fatalError("rewrite: \(error)")
            }
            blackHole(out)
        }
    }

    // MARK: One whole proxied request

    /// One request per iteration through `rig`, each answered `status`. Shares the process
    /// with the event loop's timers, the meter flush and the user directory: a few
    /// allocations of slack on top of the exact count.
    func roundTrips(_ name: String, _ rig: LoopbackRig, answered status: Int) {
        Benchmark(
            name,
            configuration: .init(
                warmupIterations: 200,
                maxDuration: .seconds(3),
                maxIterations: 3_000,
                thresholds: [.mallocCountTotal: .init(absolute: [.p90: 3])]
            ),
            closure: { benchmark in
                for _ in benchmark.scaledIterations {
                    let answered = rig.roundTrip()
                    precondition(answered == status, "\(name): answered \(answered)")
                }
            },
            setup: { try await rig.start() },
            teardown: { await rig.stop() }
        )
    }

    roundTrips("Proxy_one_API_request_end_to_end", LoopbackRig(fixtures: fixtures), answered: 200)
    // A forged token (the valid one with a character of its signature changed) on the same
    // path: the full RS256 check every time, then the 401 — what a flood of forged tokens
    // costs per request.
    roundTrips("Proxy_forged_token_401_end_to_end", LoopbackRig(fixtures: fixtures, token: Fixtures.forged(fixtures.rsaToken)), answered: 401)

    // The same, 1000 requests per iteration (counts are per request): the metering writer
    // drains its queue every 100 ms on its own thread, so its per-record cost lands in a
    // few iterations of the benchmark above (its p100) but is spread over every request here.
    // For information: how many drains fall into one iteration varies, so no threshold.
    let batchRig = LoopbackRig(fixtures: fixtures)
    Benchmark(
        "Proxy_API_request_with_metering_amortized",
        configuration: .init(warmupIterations: 1, scalingFactor: .kilo, maxDuration: .seconds(6), maxIterations: 15),
        closure: { benchmark in
            for _ in benchmark.scaledIterations {
                precondition(batchRig.roundTrip() == 200)
            }
        },
        setup: { try await batchRig.start() },
        teardown: { await batchRig.stop() }
    )

    // The rig's own client and upstream, without Gatehouse between them: what the figure
    // above includes that is not Gatehouse's (expected 0).
    let baselineRig = LoopbackRig(fixtures: fixtures)
    Benchmark(
        "Proxy_baseline_client_to_upstream_direct",
        configuration: .init(warmupIterations: 200, maxDuration: .seconds(2), maxIterations: 3_000),
        closure: { benchmark in
            for _ in benchmark.scaledIterations {
                precondition(baselineRig.directRoundTrip() == 200)
            }
        },
        setup: { try await baselineRig.start() },
        teardown: { await baselineRig.stop() }
    )
}
