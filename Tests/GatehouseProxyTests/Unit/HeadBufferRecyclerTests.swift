import GatehouseCore
import GatehouseTesting
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Testing
@testable import GatehouseProxy

/// An event loop's spare head buffers: reused when no write holds them, never written
/// over while one does, not kept once grown large or past their count — and actually used
/// by both encoders.
/// A buffer's capacity tells which memory it is: a spare grown by an earlier head keeps
/// that capacity, fresh memory has ``HeadBufferRecycler/freshCapacity``.
@Suite struct HeadBufferRecyclerTests {
    static let grown = 3000

    @Test func aSpareNoWriteHoldsIsClearedAndReused() {
        let recycler = HeadBufferRecycler()
        do {
            var first = recycler.take()
            #expect(first.capacity == HeadBufferRecycler.freshCapacity)
            first.writeRepeatingByte(UInt8(ascii: "a"), count: Self.grown)
            recycler.recycle(first)
        }
        let second = recycler.take()
        #expect(second.readableBytes == 0, "handed out cleared")
        #expect(second.capacity >= Self.grown, "the grown spare, not fresh memory")
    }

    /// A write still holding the spare (bytes a slow client has not taken) keeps its bytes:
    /// the next head goes into fresh memory.
    @Test func aSpareAWriteStillHoldsIsNotWrittenOver() {
        let recycler = HeadBufferRecycler()
        var pending = recycler.take()
        pending.writeRepeatingByte(UInt8(ascii: "a"), count: Self.grown)
        recycler.recycle(pending)
        var next = recycler.take()
        next.writeString("HTTP/1.1 200 OK\r\n\r\n")
        #expect(next.capacity == HeadBufferRecycler.freshCapacity)
        #expect(pending.readableBytesView.allSatisfy { $0 == UInt8(ascii: "a") } && pending.readableBytes == Self.grown)
    }

    /// The loop flushes at the end of its tick (``DeferredFlushes``), so the heads of one
    /// tick are all still held by their writes when the next head is taken: a head does not
    /// take a spare given back in the same tick (it would only be copied away from its
    /// write, and lost), and the next tick's heads find the earlier ones' memory, oldest
    /// first. One spare, taken whenever there, kept only the tick's last.
    @Test func aTicksHeadsFindTheLastTicksSparesOldestFirst() throws {
        let loop = EmbeddedEventLoop()
        let flushes = DeferredFlushes(eventLoop: loop)
        let recycler = HeadBufferRecycler(flushes: flushes)
        var tick: [ByteBuffer] = []
        for size in [1500, 3000, 6000] {  // grown to 2, 4 and 8 KiB
            var head = recycler.take()
            #expect(head.capacity == HeadBufferRecycler.freshCapacity, "not the tick's earlier head")
            head.writeRepeatingByte(UInt8(ascii: "a"), count: size)
            recycler.recycle(head)
            tick.append(head)
        }
        // The tick ends (a flush was deferred), and the writes complete.
        _ = flushes.defer(DeferredFlushTests.Writer("w", DeferredFlushTests.Log()))
        loop.run()
        tick.removeAll()
        let capacities = (0..<4).map { _ in recycler.take().capacity }
        #expect(capacities[0] >= 1500 && capacities[0] < 3000)
        #expect(capacities[1] >= 3000 && capacities[1] < 6000)
        #expect(capacities[2] >= 6000)
        #expect(capacities[3] == HeadBufferRecycler.freshCapacity)
        try loop.syncShutdownGracefully()
    }

    @Test func atMostKeptCountSparesAreKept() {
        let recycler = HeadBufferRecycler()
        for _ in 0..<(HeadBufferRecycler.keptCount + 5) { recycler.recycle(ByteBuffer(repeating: 0, count: Self.grown)) }
        let grown = (0..<(HeadBufferRecycler.keptCount + 5)).map { _ in recycler.take().capacity >= Self.grown }
        #expect(grown.filter { $0 }.count == HeadBufferRecycler.keptCount)
    }

    @Test func aBufferGrownPastTheBoundIsNotKept() {
        let recycler = HeadBufferRecycler()
        do {
            var large = recycler.take()
            large.writeRepeatingByte(UInt8(ascii: "a"), count: HeadBufferRecycler.keptCapacity + 1)
            recycler.recycle(large)
        }
        #expect(recycler.take().capacity == HeadBufferRecycler.freshCapacity)
    }

    /// Through the sequencer's encoder: once the client has taken a response, the next
    /// response's head goes into the same memory; while it has not, into fresh memory, and
    /// both responses' bytes are whole.
    @Test func clientResponseHeadsReuseTheSpareOnceTheirWriteIsDone() throws {
        let channel = EmbeddedChannel(handlers: [ByteToMessageHandler(HTTPRequestDecoder()), RequestSequencer(headBuffers: HeadBufferRecycler())])
        func respond(_ headers: HTTPHeaders) throws {
            try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n"))
            channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .noContent, headers: headers)), promise: nil)
            channel.write(HTTPServerResponsePart.end(nil), promise: nil)
            channel.flush()
        }
        func written() throws -> [ByteBuffer] {
            var out: [ByteBuffer] = []
            while case .byteBuffer(let buffer)? = try channel.readOutbound(as: IOData.self) { out.append(buffer) }
            return out
        }
        try respond(["X-Large": String(repeating: "v", count: Self.grown)])
        #expect(try written().map(\.capacity).allSatisfy { $0 >= Self.grown })
        try respond(["X-Small": "1"])
        let reused = try written()
        #expect(reused.count == 1 && reused[0].capacity >= Self.grown, "the first head's memory")

        // Two responses not yet taken: the second does not touch the first's bytes.
        try respond(["X-Large": String(repeating: "v", count: Self.grown)])
        try respond(["X-Second": "2"])
        let both = try written()
        #expect(both.count == 2)
        #expect(both.first.map { String(buffer: $0).hasPrefix("HTTP/1.1 204 No Content\r\nX-Large: vvv") } == true)
        #expect(both.last.map { String(buffer: $0) } == "HTTP/1.1 204 No Content\r\nX-Second: 2\r\n\r\n")
        #expect(both.last?.capacity == HeadBufferRecycler.freshCapacity)
        _ = try channel.finish()
    }

    /// The pool hands its loop's recycler and flushes to every connection it opens (set
    /// after the connection's `Sendable` initializer), so upstream request heads use the
    /// spares and their flushes wait for the tick's end as the client's do.
    @Test func poolConnectionsWriteTheirHeadsIntoTheLoopsSpareAndDeferToItsFlushes() async throws {
        let api = try await TestHTTPServer.start { _ in .fixed(body: "ok") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let endpoint = try UpstreamEndpoint(url: try #require(UpstreamURL(parsing: api.url)))
        let holds = try await loop.submit {
            let flushes = DeferredFlushes(eventLoop: loop)
            let recycler = HeadBufferRecycler(flushes: flushes)
            let pool = UpstreamConnectionPool(eventLoop: loop, idleTimeout: .seconds(5), headBuffers: recycler, flushes: flushes)
            let connected = loop.makePromise(of: Bool.self)
            pool.connect(endpoint, connectTimeout: .seconds(5)) { result in
                switch result {
                case .success(let lease):
                    let encoder = try? lease.channel.pipeline.syncOperations.handler(type: UpstreamRequestEncoder.self)
                    // And its flushes (``DeferredFlushes``), which the spares' reuse follows.
                    connected.succeed(encoder?.headBuffers === recycler && lease.handler.flushes === flushes)
                    lease.channel.close(promise: nil)
                case .failure(let error):
                    connected.fail(error)
                }
            }
            return connected.futureResult
        }.flatMap { $0 }.get()
        #expect(holds)
        try await group.shutdownGracefully()
        await api.stop()
    }

    @Test func upstreamRequestHeadsReuseTheSpareOnceTheirWriteIsDone() throws {
        let encoder = UpstreamRequestEncoder()
        encoder.headBuffers = HeadBufferRecycler()
        let channel = EmbeddedChannel(handler: encoder)
        func send(_ headers: HTTPHeaders) throws -> ByteBuffer? {
            try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/x", headers: headers)))
            guard case .byteBuffer(let buffer)? = try channel.readOutbound(as: IOData.self) else { return nil }
            return buffer
        }
        #expect((try send(["X-Large": String(repeating: "v", count: Self.grown)])?.capacity ?? 0) >= Self.grown)
        let small = try send(["Host": "api.test"])
        #expect(small.map { String(buffer: $0) } == "GET /x HTTP/1.1\r\nHost: api.test\r\n\r\n")
        #expect((small?.capacity ?? 0) >= Self.grown, "the first head's memory")
        _ = try channel.finish()
    }
}
