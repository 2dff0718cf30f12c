import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@_spi(Benchmarks) @testable import GatehouseProxy

extension UpstreamRequest {
    /// The head as the upstream's parser reads it (llhttp, through NIO's request decoder):
    /// what the builder's tests assert on is what a server would see.
    func parsed() throws -> HTTPRequestHead {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder()))
        defer { _ = try? channel.finish() }
        try channel.writeInbound(head)
        guard case .head(let parsed) = try channel.readInbound(as: HTTPServerRequestPart.self) else {
            Issue.record("no head in \(String(buffer: head))")
            return HTTPRequestHead(version: .http1_1, method: .GET, uri: "")
        }
        return parsed
    }
}
