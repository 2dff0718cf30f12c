@testable import GatehouseProxy
import GatehouseTesting
import NIOCore
import NIOEmbedded
import Testing

/// ``LingeringClose`` on an embedded channel, its clock moved by hand: what the client
/// still sends is dropped, the channel stays open while bytes keep coming (up to the total
/// bound) and closes once they stop for the quiet time.
@Suite struct LingeringCloseTests {
    /// Records what gets past the lingering handler (nothing should).
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var reads = 0
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { reads += 1 }
    }

    /// The channel, what gets past the handler, and the reads it asks for (the counter
    /// goes in front of it, nearer the socket).
    static func channel(quiet: TimeAmount = .seconds(2), total: TimeAmount = .seconds(30)) throws -> (EmbeddedChannel, Recorder, RequestSequencerTests.ReadCounter) {
        let recorder = Recorder()
        let counter = RequestSequencerTests.ReadCounter()
        let channel = EmbeddedChannel(handler: recorder)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(LingeringClose(quietTimeout: quiet, totalTimeout: total), position: .first)
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        return (channel, recorder, counter)
    }

    static func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(channel.allocator.buffer(string: text))
    }

    @Test func whatTheClientStillSendsIsDroppedUntilItGoesQuiet() throws {
        let (channel, recorder, _) = try Self.channel()
        try Self.send(channel, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1500))
        try Self.send(channel, "GET /after HTTP/1.1\r\n")
        // Two seconds after the first firing with a byte read since: still open.
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1000))
        #expect(channel.isActive)
        // Quiet from here: closed two seconds after the timer moved on.
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2000))
        #expect(!channel.isActive)
        #expect(recorder.reads == 0)
    }

    @Test func aQuietClientIsClosedAfterTheQuietTime() throws {
        let (channel, _, _) = try Self.channel()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    @Test func aClientThatNeverStopsIsClosedAtTheTotalBound() throws {
        let (channel, _, _) = try Self.channel(quiet: .seconds(2), total: .seconds(9))
        var seconds = 0
        // A byte every second: never quiet for two.
        while channel.isActive, seconds < 20 {
            try Self.send(channel, "x")
            channel.embeddedEventLoop.advanceTime(by: .seconds(1))
            seconds += 1
        }
        #expect(seconds == 9)
    }

    @Test func eachReadAsksForTheNext() throws {
        let (channel, _, counter) = try Self.channel()
        let before = counter.reads
        // `writeInbound` ends with a read-complete, after which the handler asks again.
        try Self.send(channel, "x")
        #expect(counter.reads == before + 1)
        try Self.send(channel, "y")
        #expect(counter.reads == before + 2)
        _ = try? channel.finish()
    }
}

/// The attack, end to end: a client uploading a body Gatehouse will not read (a 401 is
/// answered at the head, and the connection closed) goes on sending until it sees the
/// answer. Closed at once with its bytes unread, the connection was reset by the kernel:
/// the client's next writes failed — a client that checks its upload before reading (as
/// many do) never saw the 401 — and a reset also discards an answer not yet sent.
@Suite struct LingeringCloseLiveTests {
    @Test func aClientStillSendingItsBodyGetsTheAnswerAndNoReset() async throws {
        let rig = try await GateRig.start()
        let socket = try BlockingClientSocket(port: rig.gatehouse.port, receiveBuffer: 64 << 10)
        defer { socket.close() }
        #expect(socket.writeAll(Array("POST /_api/upload HTTP/1.1\r\nHost: g.test\r\nContent-Length: 8388608\r\n\r\n".utf8)))
        var received: [UInt8] = []
        while HTTPBytes.find(Array("\r\n\r\n".utf8), in: received, from: 0) == nil, let chunk = socket.read(max: 1 << 16) {
            received += chunk
        }
        #expect(String(decoding: received.prefix(12), as: UTF8.self) == "HTTP/1.1 401")
        // The whole upload goes on (more than the kernel's buffers hold): read and dropped,
        // not reset.
        let piece = [UInt8](repeating: 0x61, count: 64 << 10)
        var sent = 0
        while sent < 128, socket.writeAll(piece) { sent += 1 }
        #expect(sent == 128)
        // The rest of the answer, then the end of the stream (the FIN sent after it).
        while socket.read(max: 1 << 16) != nil {}
        socket.shutdown()
        await rig.stop()
    }
}
