import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A real WebSocket server (NIOWebSocket's upgrader) that echoes text frames, for
/// testing `Upgrade` pass-through. Plain HTTP requests get 200 "plain".
public final class WebSocketEchoServer: Sendable {
    public let port: Int
    private let channel: Channel
    private let group: MultiThreadedEventLoopGroup

    public static func start() async throws -> WebSocketEchoServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let upgrader = NIOWebSocketServerUpgrader(
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoFrameHandler())
                }
            }
        )
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            if let plain = try? context.pipeline.syncOperations.handler(type: PlainHandler.self) {
                                context.pipeline.syncOperations.removeHandler(plain, promise: nil)
                            }
                        })
                    )
                    try channel.pipeline.syncOperations.addHandler(PlainHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return WebSocketEchoServer(port: channel.localAddress?.port ?? 0, channel: channel, group: group)
    }

    private init(port: Int, channel: Channel, group: MultiThreadedEventLoopGroup) {
        self.port = port
        self.channel = channel
        self.group = group
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

private final class PlainHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "5")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "plain")))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

private final class EchoFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            let reply = WebSocketFrame(fin: true, opcode: frame.opcode, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }
}

/// Client-side WebSocket framing for tests (RFC 6455 §5.2): a masked text frame.
public enum WebSocketTestFrame {
    public static func maskedText(_ text: String, mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]) -> [UInt8] {
        let payload = Array(text.utf8)
        precondition(payload.count < 126)
        var frame: [UInt8] = [0x81, 0x80 | UInt8(payload.count)] + mask
        for (i, b) in payload.enumerated() { frame.append(b ^ mask[i % 4]) }
        return frame
    }

    /// The payload of an unmasked server text frame at the start of `bytes`, if complete.
    public static func unmaskedText(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 2, bytes[0] == 0x81, bytes[1] < 126, bytes.count >= 2 + Int(bytes[1]) else { return nil }
        return String(decoding: bytes[2..<2 + Int(bytes[1])], as: UTF8.self)
    }
}
