//===----------------------------------------------------------------------===//
//
// Adapted from SwiftNIO's `ByteToMessageHandler` (Sources/NIOCore/Codec.swift, swift-nio
// 2.101.3, revision cb5a7340e5f89ca4e8a44687d1979ace078be128).
// Copyright (c) 2017-2023 Apple Inc. and the SwiftNIO project authors.
// Licensed under Apache License v2.0 (https://www.apache.org/licenses/LICENSE-2.0).
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOHTTP1

/// NIO's `ByteToMessageHandler` logic — buffering, re-entrancy, end of input, removal,
/// queued writes — line for line, for Gatehouse's two HTTP decoders.
///
/// Why a copy: `ByteToMessageHandler` is generic and compiled in NIOCore, so in this binary
/// it runs unspecialised: each read looks up `Optional<Decoder>`'s metadata at run time
/// (its decoder is swapped out while decoding), each part is unwrapped by a dynamic cast,
/// and the upstream side's write observer casts every outbound part: specialised, an
/// `/_api` exchange costs 3,700 instructions less (−3.9%; `Benchmarks/README.md`, ninth
/// round). Here the logic is a final generic class that the two non-generic
/// handlers below (``HTTPRequestDecodingHandler``, ``HTTPResponseDecodingHandler``) call
/// with concrete types, so the compiler specialises all of it. What changed from NIO's:
/// only the shape (the decoder types are concrete; the write observer is the response
/// handler's method rather than a cached protocol cast) and the names. Keep it in step
/// with NIO's when the dependency moves (the differential tests run both).
final class DecodingCore<Decoder: ByteToMessageDecoder> {
    enum DecodeMode {
        /// This is a usual decode, ie. not the last chunk
        case normal
        /// Last chunk
        case last
    }

    enum RemovalState {
        /// Not added to any `ChannelPipeline` yet.
        case notAddedToPipeline
        /// No one tried to remove this handler.
        case notBeingRemoved
        /// The user-triggered removal has been started but isn't complete yet. This state
        /// will not be entered if the removal is triggered by Channel teardown.
        case removalStarted
        /// The user-triggered removal is complete. This state will not be entered if the
        /// removal is triggered by Channel teardown.
        case removalCompleted
        /// This handler has been removed from the pipeline.
        case handlerRemovedCalled
    }

    enum State {
        case active
        case leftoversNeedProcessing
        case done
        case error(Error)

        var isError: Bool {
            if case .error = self { return true }
            return false
        }

        var isFinalState: Bool {
            switch self {
            case .active, .leftoversNeedProcessing: return false
            case .done, .error: return true
            }
        }

        var isActive: Bool {
            if case .active = self { return true }
            return false
        }

        var isLeftoversNeedProcessing: Bool {
            if case .leftoversNeedProcessing = self { return true }
            return false
        }
    }

    /// Only `nil` while decoding (the handler was re-entered) or while a write or an event
    /// is told to it (``withDecoder(_:)``).
    private(set) var decoder: Decoder?
    /// Writes seen while decoding (re-entrant), told to the decoder once it is back. An
    /// array, empty without an allocation (they are rare), changed only moved out.
    private var queuedWrites: [NIOAny] = []
    private(set) var state: State = .active {
        willSet {
            // we can never leave final states
            assert(!self.state.isFinalState, "illegal state on state set: \(self.state)")
        }
    }
    private(set) var removalState: RemovalState = .notAddedToPipeline
    /// Never `nil` but inside ``withBuffer(_:)``.
    private var buffer: DecodingBuffer? = DecodingBuffer(emptyByteBuffer: ByteBuffer())
    private var seenEOF = false
    /// Tells the decoder the writes queued while it was busy (the response side's; the
    /// request side never queues any).
    private let dequeueWrites: (DecodingCore) -> Void

    init(_ decoder: Decoder, dequeueWrites: @escaping (DecodingCore) -> Void = { _ in }) {
        self.decoder = decoder
        self.dequeueWrites = dequeueWrites
    }

    deinit {
        if self.removalState != .notAddedToPipeline {
            // we have been added to the pipeline, if not, we don't need to check our state.
            assert(self.removalState == .handlerRemovedCalled, "illegal state in deinit: removalState = \(self.removalState)")
            assert(self.state.isFinalState, "illegal state in deinit: state = \(self.state)")
        }
    }

    // MARK: - Moving state out to change it

    // Why: an access to a class's stored property that spans a call the optimizer cannot see
    // into (a `CircularBuffer`'s growth, the decoder's methods) might conflict with another,
    // so Swift checks every access to that property at run time (`swift_beginAccess`, ~75
    // instructions; ~10 per `/_api` exchange in the two decoding cores). Moved out
    // (`take()`) and back, each access is a load or a store that calls nothing, the
    // whole-module optimizer proves them all exclusive and no check is left. NIO's
    // `ByteToMessageHandler` swaps its decoder out the same way while decoding.

    /// Runs `body` on the decoding buffer moved out; nothing `body` runs reaches the core.
    @inline(__always)
    private func withBuffer<Result>(_ body: (inout DecodingBuffer) -> Result) -> Result {
        guard var buffer = self.buffer.take() else { preconditionFailure("decoding buffer re-entered") }
        let result = body(&buffer)
        self.buffer = consume buffer
        return result
    }

    /// Tells the decoder something (a write, its being added or removed) with it moved out,
    /// as NIO's `self.decoder?.…` does without the move; nothing when it is out (decoding).
    @inline(__always)
    private func withDecoder(_ body: (inout Decoder) -> Void) {
        guard var decoder = self.decoder.take() else { return }
        body(&decoder)
        self.decoder = decoder
    }

    // MARK: - The main API, as ByteToMessageHandler's

    @inline(__always)
    private func withNextBuffer(
        allowEmptyBuffer: Bool,
        _ body: (inout Decoder, inout ByteBuffer) throws -> DecodingState
    ) rethrows -> DecodingBuffer.BufferProcessingResult {
        switch self.withBuffer({ $0.startProcessing(allowEmptyBuffer: allowEmptyBuffer) }) {
        case .bufferAlreadyBeingProcessed:
            return .cannotProcessReentrantly
        case .nothingAvailable:
            return .didProcess(.needMoreData)
        case .available(var buffer):
            var possiblyReclaimBytes = false
            var decoder: Decoder? = nil
            swap(&decoder, &self.decoder)
            // self.decoder only `nil` if we're being re-entered, but .available means we're not
            assert(decoder != nil)
            defer {
                swap(&decoder, &self.decoder)
                if buffer.readableBytes > 0 && possiblyReclaimBytes {
                    // The decoder just swapped back in is non-nil (asserted above).
                    if let decoder = self.decoder, decoder.shouldReclaimBytes(buffer: buffer) {
                        buffer.discardReadBytes()
                    }
                }
                self.withBuffer { $0.finishProcessing(remainder: &buffer) }
            }
            guard var current = decoder else { return .cannotProcessReentrantly }
            defer { decoder = current }
            let decodeResult = try body(&current, &buffer)
            // If we .continue, there's no point in trying to reclaim bytes because we'll loop
            // again. If we need more data on the other hand, we should try to reclaim some
            // of those bytes.
            possiblyReclaimBytes = decodeResult == .needMoreData
            return .didProcess(decodeResult)
        }
    }

    func processLeftovers(context: ChannelHandlerContext) {
        guard self.state.isActive else {
            // we are processing or have already processed the leftovers
            return
        }
        do {
            switch try self.decodeLoop(context: context, decodeMode: .last) {
            case .didProcess:
                self.state = .done
            case .cannotProcessReentrantly:
                self.state = .leftoversNeedProcessing
            }
        } catch {
            self.state = .error(error)
            context.fireErrorCaught(error)
        }
    }

    private func tryDecodeWrites() {
        if self.queuedWrites.count > 0 {
            self.dequeueWrites(self)
        }
    }

    private func decodeLoop(context: ChannelHandlerContext, decodeMode: DecodeMode) throws -> DecodingBuffer.BufferProcessingResult {
        assert(!self.state.isError)
        var allowEmptyBuffer = decodeMode == .last
        while (self.state.isActive && self.removalState == .notBeingRemoved) || decodeMode == .last {
            let result = try self.withNextBuffer(allowEmptyBuffer: allowEmptyBuffer) { decoder, buffer in
                let decoderResult: DecodingState
                if decodeMode == .normal {
                    assert(self.state.isActive, "illegal state for normal decode: \(self.state)")
                    decoderResult = try decoder.decode(context: context, buffer: &buffer)
                } else {
                    allowEmptyBuffer = false
                    decoderResult = try decoder.decodeLast(context: context, buffer: &buffer, seenEOF: self.seenEOF)
                }
                return decoderResult
            }
            switch result {
            case .didProcess(.continue):
                self.tryDecodeWrites()
                continue
            case .didProcess(.needMoreData):
                if self.queuedWrites.count > 0 {
                    self.tryDecodeWrites()
                    continue  // we might have received more, so let's spin once more
                } else {
                    return .didProcess(.needMoreData)
                }
            case .cannotProcessReentrantly:
                return .cannotProcessReentrantly
            }
        }
        return .didProcess(.continue)
    }

    // MARK: - The handler events, as ByteToMessageHandler's

    func handlerAdded(context: ChannelHandlerContext) {
        guard self.removalState == .notAddedToPipeline else {
            preconditionFailure("\(self) got readded to a ChannelPipeline but a decoding handler is single-use")
        }
        self.removalState = .notBeingRemoved
        self.buffer = DecodingBuffer(emptyByteBuffer: context.channel.allocator.buffer(capacity: 0))
        // The decoder isn't in use while the handler is being added.
        self.withDecoder { $0.decoderAdded(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // very likely, the removal state is `.notBeingRemoved` or `.removalCompleted` here but
        // we can't assert it because the pipeline might be torn down during the formal
        // removal process.
        self.removalState = .handlerRemovedCalled
        if !self.state.isFinalState {
            self.state = .done
        }
        // The decoder isn't in use: the removal is always `execute`d.
        self.withDecoder { $0.decoderRemoved(context: context) }
    }

    /// Calls `decode` until there is nothing left to decode.
    func channelRead(context: ChannelHandlerContext, buffer: ByteBuffer) {
        if case .error(let error) = self.state {
            context.fireErrorCaught(ByteToMessageDecoderError.dataReceivedInErrorState(error, buffer))
            return
        }
        self.withBuffer { $0.append(buffer: buffer) }
        do {
            switch try self.decodeLoop(context: context, decodeMode: .normal) {
            case .didProcess:
                switch self.state {
                case .active:
                    ()  // cool, all normal
                case .done, .error:
                    ()  // fair, all done already
                case .leftoversNeedProcessing:
                    // seems like we received a `channelInactive` or `handlerRemoved` whilst we
                    // were processing a read
                    switch try self.decodeLoop(context: context, decodeMode: .last) {
                    case .didProcess:
                        ()  // expected and cool
                    case .cannotProcessReentrantly:
                        preconditionFailure("bug: non-reentrant decode loop couldn't run \(self), \(self.state)")
                    }
                    self.state = .done
                }
            case .cannotProcessReentrantly:
                // fine, will be done later
                ()
            }
        } catch {
            self.state = .error(error)
            context.fireErrorCaught(error)
        }
    }

    /// Call `decodeLast` before forwarding the event through the pipeline.
    func channelInactive(context: ChannelHandlerContext) {
        self.seenEOF = true
        self.processLeftovers(context: context)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event as? ChannelEvent == .some(.inputClosed) {
            self.seenEOF = true
            self.processLeftovers(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        precondition(self.removalState == .notBeingRemoved)
        self.removalState = .removalStarted
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute {
            self.processLeftovers(context: context)
            assert(!self.state.isLeftoversNeedProcessing, "illegal state: \(self.state)")
            switch self.removalState {
            case .removalStarted:
                self.removalState = .removalCompleted
            case .handlerRemovedCalled:
                // if we're here, then the channel has also been torn down between the start
                // and the completion of the user-triggered removal. That's okay.
                ()
            default:
                assertionFailure("illegal removal state: \(self.removalState)")
            }
            // this is necessary as it'll complete the promise.
            context.leavePipeline(removalToken: removalToken)
        }
    }
}

extension DecodingCore where Decoder: WriteObservingByteToMessageDecoder {
    /// The write observer: the decoder sees each outbound part (the response decoder
    /// learns each request's method), queued while it is busy decoding.
    func observeWrite(_ part: Decoder.OutboundIn, data: @autoclosure () -> NIOAny) {
        if self.decoder != nil {
            assert(self.queuedWrites.isEmpty)
            self.withDecoder { $0.write(data: part) }
        } else {
            var queued = self.queuedWrites
            self.queuedWrites = []
            queued.append(data())
            self.queuedWrites = queued
        }
    }

    /// Tells the decoder the writes queued while it was decoding, each unwrapped by
    /// `unwrap` (the handler's own `unwrapOutboundIn`).
    func dequeueWrites(_ unwrap: (NIOAny) -> Decoder.OutboundIn) {
        // Only called when the decoder is not on the stack, so it is there; what it is told
        // cannot reach the core, so nothing is queued meanwhile.
        let queued = self.queuedWrites
        self.queuedWrites = []
        for data in queued {
            self.withDecoder { $0.write(data: unwrap(data)) }
        }
    }
}

/// `B2MDBuffer`: the bytes not yet decoded, and whether a decode is running.
struct DecodingBuffer {
    private enum State {
        case processingInProgress
        case ready
    }

    enum BufferAvailability {
        /// No, because no bytes available
        case nothingAvailable
        /// No, because we're already processing one
        case bufferAlreadyBeingProcessed
        /// Yes please, here we go.
        case available(ByteBuffer)
    }

    enum BufferProcessingResult {
        /// Could not process a buffer because we are already processing one on the same call stack.
        case cannotProcessReentrantly
        /// Yes, we did process some.
        case didProcess(DecodingState)
    }

    private var state: State = .ready
    private var buffers: CircularBuffer<ByteBuffer> = CircularBuffer(initialCapacity: 4)
    private let emptyByteBuffer: ByteBuffer

    init(emptyByteBuffer: ByteBuffer) {
        assert(emptyByteBuffer.readableBytes == 0)
        self.emptyByteBuffer = emptyByteBuffer
    }

    /// Start processing some bytes if possible; a returned buffer (`.available`) must be
    /// given back by `finishProcessing`.
    mutating func startProcessing(allowEmptyBuffer: Bool) -> BufferAvailability {
        switch self.state {
        case .processingInProgress:
            return .bufferAlreadyBeingProcessed
        case .ready where self.buffers.count > 0:
            var buffer = self.buffers.removeFirst()
            buffer.writeDecodingBuffers(self.buffers)
            self.buffers.removeAll(keepingCapacity: self.buffers.capacity < 16)  // don't grow too much
            if buffer.readableBytes > 0 || allowEmptyBuffer {
                self.state = .processingInProgress
                return .available(buffer)
            } else {
                return .nothingAvailable
            }
        case .ready:
            assert(self.buffers.isEmpty)
            if allowEmptyBuffer {
                self.state = .processingInProgress
                return .available(self.emptyByteBuffer)
            }
            return .nothingAvailable
        }
    }

    mutating func finishProcessing(remainder buffer: inout ByteBuffer) {
        assert(self.state == .processingInProgress)
        self.state = .ready
        if buffer.readableBytes == 0 && self.buffers.isEmpty {
            // fast path, no bytes left and no other buffers, just return
            return
        }
        if buffer.readableBytes > 0 {
            self.buffers.prepend(buffer)
        } else {
            buffer.discardReadBytes()
            buffer.writeDecodingBuffers(self.buffers)
            // don't grow too much
            self.buffers.removeAll(keepingCapacity: self.buffers.capacity < 16)
            self.buffers.append(buffer)
        }
    }

    mutating func append(buffer: ByteBuffer) {
        if buffer.readableBytes > 0 {
            self.buffers.append(buffer)
        }
    }
}

extension ByteBuffer {
    fileprivate mutating func writeDecodingBuffers(_ buffers: CircularBuffer<ByteBuffer>) {
        guard buffers.count > 0 else { return }
        var requiredCapacity: Int = self.writerIndex
        for buffer in buffers {
            requiredCapacity += buffer.readableBytes
        }
        self.reserveCapacity(requiredCapacity)
        for var buffer in buffers {
            self.writeBuffer(&buffer)
        }
    }
}

// MARK: - The two handlers

/// What the two decoding handlers share: every inbound event goes to their core. Default
/// implementations used as the handlers' witnesses, so each is specialised for its type.
protocol DecodingCoreHandler: ChannelInboundHandler, RemovableChannelHandler where InboundIn == ByteBuffer {
    associatedtype Decoder: ByteToMessageDecoder
    var core: DecodingCore<Decoder> { get }
}

extension DecodingCoreHandler {
    func handlerAdded(context: ChannelHandlerContext) { core.handlerAdded(context: context) }
    func handlerRemoved(context: ChannelHandlerContext) { core.handlerRemoved(context: context) }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        core.channelRead(context: context, buffer: unwrapInboundIn(data))
    }
    func channelInactive(context: ChannelHandlerContext) { core.channelInactive(context: context) }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        core.userInboundEventTriggered(context: context, event: event)
    }
    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        core.removeHandler(context: context, removalToken: removalToken)
    }
}

/// The client side's request decoder in a `ByteToMessageHandler` of its own (see
/// ``DecodingCore`` for why).
final class HTTPRequestDecodingHandler: DecodingCoreHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPServerRequestPart

    let core: DecodingCore<HTTPMessageDecoder>
    /// The decoder, to wire its receiver (``HTTPMessageDecoder/requestReceiver``).
    let decoder: HTTPMessageDecoder

    init(_ decoder: HTTPMessageDecoder) {
        precondition(decoder.kind == .request, "a request decoding handler decodes requests")
        self.decoder = decoder
        core = DecodingCore(decoder)
    }
}

/// The upstream side's response decoder, which observes the requests written (a response
/// to HEAD has no body), in a `ByteToMessageHandler` of its own (see ``DecodingCore``).
final class HTTPResponseDecodingHandler: DecodingCoreHandler, ChannelOutboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let core: DecodingCore<HTTPMessageDecoder>
    /// The decoder, to wire its receiver (``HTTPMessageDecoder/responseReceiver``).
    let decoder: HTTPMessageDecoder

    init(_ decoder: HTTPMessageDecoder) {
        precondition(decoder.kind == .response, "a response decoding handler decodes responses")
        self.decoder = decoder
        core = DecodingCore(decoder) { core in
            core.dequeueWrites(HTTPResponseDecodingHandler.unwrapOutboundIn)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        core.observeWrite(unwrapOutboundIn(data), data: data)
        context.write(data, promise: promise)
    }

    /// A request written past this handler (``UpstreamHandler/write(_:)-(UpstreamRequest)``
    /// hands its bytes to the encoder directly): the decoder is told its method here
    /// instead — at once when idle, as a head queued behind the decoding under way
    /// otherwise (``DecodingCore/observeWrite(_:data:)``'s order).
    func observe(method: HTTPMethod) {
        if core.decoder != nil {
            decoder.observeRequest(method: method)
        } else {
            let head = HTTPRequestHead(version: .http1_1, method: method, uri: "")
            core.observeWrite(.head(head), data: wrapOutboundOut(.head(head)))
        }
    }
}
