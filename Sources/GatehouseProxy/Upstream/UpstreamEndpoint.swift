import GatehouseCore
import NIOCore
import NIOPosix
import NIOSSL
import NIOHTTP1

/// One upstream Gatehouse talks to: its address and, for `https`, a TLS context built
/// once at start (building one per connection would cost a certificate-store load).
///
/// Immutable and shared by every event loop.
public final class UpstreamEndpoint: Sendable {
    public let url: UpstreamURL
    let sslContext: NIOSSLContext?
    /// SNI and certificate name; `nil` for IP literals, which SNI must not carry.
    let serverHostname: String?

    /// - Parameter caFile: PEM bundle trusted in addition to the system roots.
    public init(url: UpstreamURL, caFile: String? = nil) throws {
        self.url = url
        if url.scheme == .https {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            if let caFile {
                tls.additionalTrustRoots = [.file(caFile)]
            }
            self.sslContext = try NIOSSLContext(configuration: tls)
            self.serverHostname = IPAddressBytes.parse(url.host) == nil ? url.host : nil
        } else {
            self.sslContext = nil
            self.serverHostname = nil
        }
    }

    /// Opens a connection on `eventLoop` (the caller's own loop, so no hop follows) with
    /// TLS when needed and the HTTP/1.1 client codec; `extra` handlers go last.
    ///
    /// Runs on `eventLoop`; the future completes there.
    func connect(
        on eventLoop: EventLoop,
        connectTimeout: TimeAmount,
        extra: @escaping @Sendable (Channel) throws -> Void
    ) -> EventLoopFuture<Channel> {
        let sslContext = self.sslContext
        let serverHostname = self.serverHostname
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.maxMessagesPerRead, value: ReceiveBuffers.maxMessagesPerRead)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                        try sync.addHandler(handler)
                    }
                    // NIO's response decoder (copied, ``HTTPMessageDecoder``, in its
                    // `ByteToMessageHandler` logic specialised, ``DecodingCore``), Gatehouse's
                    // request encoder in place of `HTTPRequestEncoder`, and no outbound
                    // validator, for the reason given in
                    // ProxyServer's pipeline: request heads are built from the parsed client
                    // head and validated parts.
                    try sync.addHandler(UpstreamRequestEncoder())
                    try sync.addHandler(HTTPResponseDecodingHandler(HTTPMessageDecoder(.response, leftOverBytesStrategy: .forwardBytes)))
                    try extra(channel)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        switch url.scheme {
        case .unix:
            return bootstrap.connect(unixDomainSocketPath: url.socketPath)
        case .http, .https:
            return bootstrap.connect(host: url.host, port: url.port)
        }
    }
}
