import GatehouseCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener (SPEC "Routing"): `/healthz` (process alive), `/readyz` (keys
/// loaded, stores open; 503 until then), `/metrics` (Prometheus text). Separate from the
/// proxy port so that health and metrics are never exposed to the app's users.
public final class AdminServer: Sendable {
    /// What the admin endpoints report, supplied by the app wiring.
    public struct Probes: Sendable {
        public var isReady: @Sendable () -> Bool
        /// The `/metrics` text, completed on the given loop (the admin connection's):
        /// gathering the proxy loops' counters takes a hop to each of them.
        public var renderMetrics: @Sendable (EventLoop) -> EventLoopFuture<String>

        public init(isReady: @escaping @Sendable () -> Bool, renderMetrics: @escaping @Sendable (EventLoop) -> EventLoopFuture<String>) {
            self.isReady = isReady
            self.renderMetrics = renderMetrics
        }
    }

    private let listen: ListenAddress
    private let group: EventLoopGroup
    private let probes: Probes
    private let channel = NIOLockedValueBoxChannel()

    public init(listen: ListenAddress, group: EventLoopGroup, probes: Probes) {
        self.listen = listen
        self.group = group
        self.probes = probes
    }

    public func start() async throws -> SocketAddress {
        let probes = self.probes
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(probes: probes))
                }
            }
            .bind(host: listen.host, port: listen.port).get()
        channel.set(server)
        guard let address = server.localAddress else { throw ProxyServerError(description: "admin listener has no address") }
        return address
    }

    public func stop() async {
        try? await channel.value?.close()
    }
}

/// Answers the three admin paths; anything else is 404.
private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let probes: AdminServer.Probes
    private var head: HTTPRequestHead?

    init(probes: AdminServer.Probes) {
        self.probes = probes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            switch path {
            case "/healthz":
                respond(head, .ok, "application/json", #"{"status":"ok"}"#, context: context)
            case "/readyz":
                if probes.isReady() {
                    respond(head, .ok, "application/json", #"{"status":"ready"}"#, context: context)
                } else {
                    respond(head, .serviceUnavailable, "application/json", #"{"status":"starting"}"#, context: context)
                }
            case "/metrics":
                probes.renderMetrics(context.eventLoop).assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(let text):
                        self.respond(head, .ok, "text/plain; version=0.0.4; charset=utf-8", text, context: context)
                    case .failure:
                        self.respond(head, .serviceUnavailable, "application/json", #"{"error":"metrics_unavailable"}"#, context: context)
                    }
                }
            default:
                respond(head, .notFound, "application/json", #"{"error":"not_found"}"#, context: context)
            }
        }
    }

    private func respond(_ head: HTTPRequestHead, _ status: HTTPResponseStatus, _ type: String, _ body: String, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
