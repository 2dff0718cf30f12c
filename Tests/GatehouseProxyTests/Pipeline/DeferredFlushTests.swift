import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import GatehouseProxy

/// ``DeferredFlushes``: a loop tick's first flush goes at once, the later ones wait for the
/// end of the tick and go together, in order — and the writers that use it (the client's
/// ``RequestSequencer``, the upstream's ``UpstreamHandler``) lose nothing to the wait: a
/// close or a removal flushes first. On an `EmbeddedEventLoop`, the tick's end is `run()`.
/// (That the pool hands new connections the loop's: ``HeadBufferRecyclerTests``.)
@Suite struct DeferredFlushTests {
    /// Records the order its writers flushed in; one of them can queue another from its
    /// flush.
    final class Log {
        var flushed: [String] = []
    }

    final class Writer: DeferredFlushing {
        let name: String
        let log: Log
        var then: (() -> Void)?
        init(_ name: String, _ log: Log) {
            self.name = name
            self.log = log
        }
        func flushDeferred() {
            log.flushed.append(name)
            then?()
        }
    }

    @Test func aTicksLaterFlushesWaitForItsEndAndGoTogetherInOrder() {
        let loop = EmbeddedEventLoop()
        let flushes = DeferredFlushes(eventLoop: loop)
        let log = Log()
        #expect(flushes.defer(Writer("first", log)) == false, "the tick's first flushes at once")
        #expect(flushes.defer(Writer("a", log)))
        #expect(flushes.defer(Writer("b", log)))
        #expect(log.flushed.isEmpty, "nothing before the tick ends")
        loop.run()
        #expect(log.flushed == ["a", "b"])

        // A new tick: its first goes at once again, the next waits for its end.
        #expect(flushes.defer(Writer("again", log)) == false)
        #expect(flushes.defer(Writer("c", log)))
        #expect(log.flushed == ["a", "b"])
        loop.run()
        #expect(log.flushed == ["a", "b", "c"])
    }

    /// The end-of-tick task holds what it works on, not the object its writers call: that
    /// object lives only as long as its owners (no cycle through its own task, nor a weak
    /// reference that would make its retains the slow kind), and a pass already queued
    /// when it goes is still made.
    @Test func itLivesOnlyAsLongAsItsOwnersAndItsQueuedPassIsStillMade() {
        let loop = EmbeddedEventLoop()
        let log = Log()
        weak var gone: DeferredFlushes?
        do {
            let flushes = DeferredFlushes(eventLoop: loop)
            gone = flushes
            _ = flushes.defer(Writer("tick's first", log))
            #expect(flushes.defer(Writer("queued", log)))
        }
        #expect(gone == nil)
        loop.run()
        #expect(log.flushed == ["queued"])
    }

    @Test func aFlushQueuedByAnotherFlushIsMadeToo() {
        let loop = EmbeddedEventLoop()
        let flushes = DeferredFlushes(eventLoop: loop)
        let log = Log()
        let first = Writer("first", log)
        let next = Writer("next", log)
        first.then = { _ = flushes.defer(next) }
        _ = flushes.defer(Writer("tick's first", log))
        _ = flushes.defer(first)
        loop.run()
        #expect(log.flushed == ["first", "next"])
    }

    // MARK: - The client side

    static let request = "GET /x HTTP/1.1\r\nHost: g.test\r\n\r\n"

    /// A sequencer on `loop` deferring its flushes to `flushes`, with one request read.
    static func connection(on loop: EmbeddedEventLoop, flushes: DeferredFlushes) throws -> (EmbeddedChannel, RequestSequencer) {
        let sequencer = RequestSequencer(flushes: flushes)
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(HTTPRequestDecoder()), sequencer])
        try channel.writeInbound(ByteBuffer(string: request))
        _ = try channel.readInbound(as: HTTPServerRequestPart.self)
        return (channel, sequencer)
    }

    /// Writes a 204 through the sequencer's direct calls, as ``ProxyHandler`` does, and
    /// asks for its flush.
    static func answer(_ sequencer: RequestSequencer, written: EventLoopPromise<Void>? = nil) {
        let head = HTTPResponseHead(version: .http1_1, status: .noContent, headers: ["x-answer": "1"])
        #expect(sequencer.writeResponse(.head(head), promise: nil))
        #expect(sequencer.writeResponse(.end(nil), promise: written))
        #expect(sequencer.flushResponses())
    }

    static func outbound(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while case .byteBuffer(let buffer)? = try channel.readOutbound(as: IOData.self) { text += String(buffer: buffer) }
        return text
    }

    static let answered = "HTTP/1.1 204 No Content\r\nx-answer: 1\r\n\r\n"

    @Test func aTicksFirstAnswerGoesAtOnceTheOthersWhenItEnds() throws {
        let loop = EmbeddedEventLoop()
        let flushes = DeferredFlushes(eventLoop: loop)
        let (one, first) = try Self.connection(on: loop, flushes: flushes)
        let (two, second) = try Self.connection(on: loop, flushes: flushes)
        let (three, third) = try Self.connection(on: loop, flushes: flushes)
        Self.answer(first)
        Self.answer(second)
        Self.answer(third)
        #expect(try Self.outbound(one) == Self.answered)
        #expect(try Self.outbound(two).isEmpty && Self.outbound(three).isEmpty, "written, not yet flushed")
        loop.run()
        #expect(try Self.outbound(two) == Self.answered)
        #expect(try Self.outbound(three) == Self.answered)
        _ = try one.finish()
        _ = try two.finish()
        _ = try three.finish()
    }

    /// Another connection flushed first in this tick: `sequencer`'s answer waits.
    static func deferredAnswer(on loop: EmbeddedEventLoop, written: EventLoopPromise<Void>? = nil) throws -> (EmbeddedChannel, RequestSequencer) {
        let flushes = DeferredFlushes(eventLoop: loop)
        let (other, earlier) = try connection(on: loop, flushes: flushes)
        answer(earlier)
        _ = try outbound(other)
        let (channel, sequencer) = try connection(on: loop, flushes: flushes)
        answer(sequencer, written: written)
        return (channel, sequencer)
    }

    /// Without a loop's `DeferredFlushes` (tests, tools) the flush is made at once.
    @Test func aSequencerWithoutTheLoopsFlushesFlushesAtOnce() throws {
        let sequencer = RequestSequencer()
        let channel = EmbeddedChannel(handlers: [ByteToMessageHandler(HTTPRequestDecoder()), sequencer])
        try channel.writeInbound(ByteBuffer(string: Self.request))
        Self.answer(sequencer)
        #expect(try Self.outbound(channel) == Self.answered)
        _ = try channel.finish()
    }

    /// A close right after the answer (an error path closing the connection) would fail
    /// a write not yet flushed: the sequencer flushes before it closes.
    @Test func aCloseBeforeTheTickEndsStillSendsTheAnswer() throws {
        let loop = EmbeddedEventLoop()
        let written = loop.makePromise(of: Void.self)
        let (channel, _) = try Self.deferredAnswer(on: loop, written: written)
        #expect(try Self.outbound(channel).isEmpty)
        var outcome: Result<Void, Error>?
        written.futureResult.assumeIsolated().whenComplete { outcome = $0 }
        channel.close(promise: nil)
        #expect(try Self.outbound(channel) == Self.answered)
        if case .success? = outcome {} else { Issue.record("the answer's write: \(String(describing: outcome))") }
        loop.run()
        #expect(try Self.outbound(channel).isEmpty, "flushed once")
    }

    /// Leaving the pipeline (a tunnel takes over): what was written goes before whatever
    /// follows, not at the tick's end, when the sequencer no longer has a context.
    @Test func leavingThePipelineFlushesFirst() throws {
        let loop = EmbeddedEventLoop()
        let (channel, sequencer) = try Self.deferredAnswer(on: loop)
        #expect(try Self.outbound(channel).isEmpty)
        try channel.pipeline.syncOperations.removeHandler(sequencer).wait()
        loop.run()
        #expect(try Self.outbound(channel) == Self.answered)
        _ = try channel.finish()
    }

    // MARK: - The upstream side

    /// An upstream connection whose flushes are a tick's later ones (another writer
    /// flushed first).
    static func upstream(on loop: EmbeddedEventLoop) throws -> (EmbeddedChannel, UpstreamHandler) {
        let flushes = DeferredFlushes(eventLoop: loop)
        _ = flushes.defer(Writer("tick's first", Log()))
        let encoder = UpstreamRequestEncoder()
        let decoding = HTTPResponseDecodingHandler(HTTPMessageDecoder(.response, leftOverBytesStrategy: .forwardBytes))
        let handler = UpstreamHandler(encoder: encoder, decoder: decoding)
        handler.flushes = flushes
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandlers([encoder, decoding, handler])
        return (channel, handler)
    }

    static func send(_ handler: UpstreamHandler) {
        handler.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/x", headers: ["host": "api.test"])))
        handler.write(.end(nil))
        handler.flush()
    }

    static let sent = "GET /x HTTP/1.1\r\nhost: api.test\r\n\r\n"

    @Test func upstreamRequestsGoOutWhenTheTickEnds() throws {
        let loop = EmbeddedEventLoop()
        let (channel, handler) = try Self.upstream(on: loop)
        Self.send(handler)
        #expect(try Self.outbound(channel).isEmpty)
        loop.run()
        #expect(try Self.outbound(channel) == Self.sent)
        _ = try channel.finish()
    }

    @Test func closingAnUpstreamConnectionFlushesFirst() throws {
        let loop = EmbeddedEventLoop()
        let (channel, handler) = try Self.upstream(on: loop)
        Self.send(handler)
        channel.close(promise: nil)
        #expect(try Self.outbound(channel) == Self.sent)
    }
}
