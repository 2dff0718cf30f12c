import GatehouseCore
import GatehouseMetering
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix

/// The client-facing listener. Each accepted connection gets this pipeline, on one
/// event loop for its whole life (and its upstream connections on the same loop):
///
/// ```
///  socket ─▶ ClientTimeoutHandler      408 / idle / send-stall close on raw bytes
///         ─▶ HTTPRequestDecodingHandler NIO's HTTP/1 decoder, copied (HTTPMessageDecoder:
///                                      llhttp, strict; head size capped: 431), in NIO's
///                                      ByteToMessageHandler logic, specialised
///                                      (DecodingCore); hands each part to the sequencer
///                                      by a direct call, so nothing may be added between
///                                      the two (a tunnel's glue comes after the decoder
///                                      has stopped parsing)
///         ─▶ RequestSequencer ◀──────┐ one request at a time, pipelined ones held; drain;
///                                    │ 400/431 for framing errors, then close; responses
///                                    │ written by its ClientResponseEncoder (one-pass
///                                    │ heads; NIO's framing rules)
///         ─▶ ProxyHandler ───────────┘ route, gate, local answer or upstream exchange;
///                 │                      the two call each other directly for request
///                 │                      parts, response parts, flushes and reads (no
///                 │                      `NIOAny` round trip), so nothing may be added
///                 │                      between them
///                 │
///                 └──▶ per-loop UpstreamConnectionPool ─▶ [TLS] ─▶ UpstreamRequestEncoder
///                      + HTTPResponseDecodingHandler ─▶ UpstreamHandler (parts by direct
///                                                       call, as on the client side)
///
///  Both encoders write heads into the loop's spare buffers (HeadBufferRecycler); the
///  sequencer's and the upstream handlers' flushes wait for the end of the loop's tick
///  and go together (DeferredFlushes).
/// ```
public final class ProxyServer: Sendable {
    private let group: EventLoopGroup
    private let logger: Logger
    /// Released in ``drain(timeout:)``: its deinit completes a promise on the group's
    /// loops, which must still be running then.
    private let quiesce: NIOLockedValueBox<ServerQuiescingHelper?>
    private let loops: [ObjectIdentifier: NIOLoopBound<LoopContext>]
    private let listen: ListenAddress
    private let channel: NIOLockedValueBoxChannel
    private let meterTimers: [RepeatedTask]

    /// - Parameter meterWriter: where `/_api` exchanges are billed; each loop hands it
    ///   its buffered records every `meterFlushInterval`.
    public init(
        listen: ListenAddress, runtime: ProxyRuntime, settings: ProxySettings, group: EventLoopGroup, logger: Logger,
        meterWriter: MeterWriter? = nil, meterFlushInterval: TimeAmount = .milliseconds(100)
    ) async throws {
        self.listen = listen
        self.group = group
        self.logger = logger
        self.quiesce = NIOLockedValueBox(ServerQuiescingHelper(group: group))
        var loops: [ObjectIdentifier: NIOLoopBound<LoopContext>] = [:]
        var timers: [RepeatedTask] = []
        for loop in group.makeIterator() {
            let bound = try await loop.submit {
                NIOLoopBound(LoopContext(eventLoop: loop, runtime: runtime, settings: settings, meterWriter: meterWriter), eventLoop: loop)
            }.get()
            loops[ObjectIdentifier(loop)] = bound
            if meterWriter != nil {
                timers.append(loop.scheduleRepeatedTask(initialDelay: meterFlushInterval, delay: meterFlushInterval) { _ in
                    bound.value.flushMeter()
                })
            }
        }
        self.loops = loops
        self.meterTimers = timers
        self.channel = NIOLockedValueBoxChannel()
    }

    /// Binds and starts accepting; returns the bound address (port 0 picks a free one).
    public func start() async throws -> SocketAddress {
        let loops = self.loops
        let logger = self.logger
        guard let quiesce = self.quiesce.withLockedValue({ $0 }) else { throw ProxyServerError(description: "server already stopped") }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            // .tcpOption, not .socketOption: at SOL_SOCKET level option 1 is SO_DEBUG, which
            // needs CAP_NET_ADMIN, so a non-root Gatehouse closed every accepted connection.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: ReceiveBuffers.maxMessagesPerRead)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let loop = loops[ObjectIdentifier(channel.eventLoop)]?.value else {
                        throw ProxyServerError(description: "connection on an unknown event loop")
                    }
                    try Self.configureConnection(channel, loop: loop, logger: logger)
                }
            }
        let server = try await bootstrap.bind(host: listen.host, port: listen.port).get()
        channel.set(server)
        guard let address = server.localAddress else { throw ProxyServerError(description: "listener has no address") }
        return address
    }

    /// A client connection's pipeline, on its loop: timeouts, the request decoder, the
    /// sequencer, the proxy handler.
    static func configureConnection(_ channel: Channel, loop: LoopContext, logger: Logger) throws {
        // Limits as of this connection's accept (a reload applies to new connections).
        let settings = loop.settings
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = settings.maxHeaderBytes
        decoderLimits.maxHeaderFieldSize = settings.maxHeaderBytes
        decoderLimits.maxHeaderFieldCount = 1000
        let sync = channel.pipeline.syncOperations
        let timeouts = ClientTimeoutHandler(headTimeout: settings.clientHeaderTimeout, idleTimeout: settings.idleTimeout)
        try sync.addHandler(timeouts)
        // NIO's request decoder, copied to hand its parts to the sequencer directly
        // (``HTTPMessageDecoder``), run by NIO's `ByteToMessageHandler` logic specialised
        // for it (``DecodingCore``); Gatehouse's response encoder (inside the sequencer) in
        // place of `HTTPResponseEncoder` (same rules, one-pass heads), and without NIO's
        // outbound header validator: every header written here is either parsed by llhttp
        // (which admits no CR/LF in a name or value) or one Gatehouse builds from validated
        // parts (configuration checked at load, token `sub` checked by the verifier,
        // generated ids and numbers). The validator re-scanned every byte of every header of
        // every response: ~7% of the proxy's CPU on /_api. Bytes behind an upgrade request
        // are the client's first tunnel frames: handed on when the decoder leaves for the
        // tunnel (``TunnelSwitch``).
        let decoding = HTTPRequestDecodingHandler(HTTPMessageDecoder(.request, leftOverBytesStrategy: .forwardBytes, limitConfiguration: decoderLimits))
        try sync.addHandler(decoding)
        let sequencer = RequestSequencer(timeouts: timeouts, headBuffers: loop.headBuffers, flushes: loop.flushes)
        try sync.addHandler(sequencer)
        // The sequencer is the decoder's next handler: the parts skip the pipeline.
        decoding.decoder.requestReceiver = sequencer
        try sync.addHandler(ProxyHandler(loop: loop, timeouts: timeouts, endpoints: LocalEndpoints(), logger: logger, sequencer: sequencer))
    }

    /// Serves every request that starts from now on with `runtime` and `settings` (SIGHUP
    /// reload): each loop swaps its snapshot on its own thread, so the request path reads
    /// it without a lock. Returns once every loop has switched.
    public func install(runtime: ProxyRuntime, settings: ProxySettings) async {
        for bound in loops.values {
            try? await bound.eventLoop.submit {
                bound.value.install(runtime: runtime, settings: settings)
            }.get()
        }
    }

    /// The request counters of every loop, summed, as Prometheus text (for `/metrics`).
    /// Each loop copies its own figures on its own thread; the request path never waits.
    public func metricsText(on eventLoop: EventLoop) -> EventLoopFuture<String> {
        let snapshots = loops.values.map { bound in
            bound.eventLoop.submit { bound.value.metrics.snapshot() }
        }
        return EventLoopFuture.whenAllSucceed(snapshots, on: eventLoop).map { snapshots in
            var total = LoopMetrics.Snapshot()
            for snapshot in snapshots { total.add(snapshot) }
            return ProxyMetricsText.render(total, appLabels: MetricSlots.labels())
        }
    }

    /// Stops accepting, lets in-flight requests finish (each connection closes after its
    /// current response), and returns when all are closed or `drainTimeout` passed.
    public func drain(timeout drainTimeout: TimeAmount) async {
        let loop = group.next()
        let promise = loop.makePromise(of: Void.self)
        let helper = quiesce.withLockedValue { q -> ServerQuiescingHelper? in
            defer { q = nil }
            return q
        }
        if let helper {
            helper.initiateShutdown(promise: promise)
        } else {
            promise.succeed(())
        }
        let timer = loop.scheduleTask(in: drainTimeout) { promise.succeed(()) }
        try? await promise.futureResult.get()
        timer.cancel()
        for timer in meterTimers { timer.cancel() }
        for bound in loops.values {
            try? await bound.eventLoop.submit {
                bound.value.pool.closeAll()
                bound.value.flushMeter()
            }.get()
        }
    }
}

/// The bound server channel, set once after `bind`.
final class NIOLockedValueBoxChannel: Sendable {
    private let box = NIOLockedValueBox<Channel?>(nil)
    func set(_ channel: Channel) { box.withLockedValue { $0 = channel } }
    var value: Channel? { box.withLockedValue { $0 } }
}

public struct ProxyServerError: Error, CustomStringConvertible {
    public let description: String
}
