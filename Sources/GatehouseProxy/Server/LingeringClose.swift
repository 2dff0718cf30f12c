import NIOCore

/// The end of a client connection whose output is shut down (everything written is out of
/// NIO, the FIN queued behind it): reads and drops whatever the client still sends until it
/// closes, then lets the channel close; gives up after ``quietTimeout`` without a byte or
/// ``totalTimeout`` in all. nginx's `lingering_close` (its `lingering_timeout` and
/// `lingering_time`; the quiet wait is shorter here, 2 s against 5: it is there for bytes
/// already on their way, and a drain waits for it on every connection whose client keeps
/// its end open after the FIN).
///
/// Why not close at once: a socket closed with bytes it never read makes the kernel answer
/// with a reset and discard what it had not sent yet — answers a slow client has not taken,
/// cut mid-answer. A client that pipelined requests Gatehouse had not read when a drain
/// came (it holds what it read until the client takes its answers) lost the last answers
/// that way (`RequestSequencerTests.aDrainLetsWrittenAnswersOutPastUnreadRequests`). Read
/// to its end, the input is empty and the close a plain FIN; what the kernel still holds
/// is sent after it.
///
/// Added first in the pipeline, so the dropped bytes reach neither the timeouts nor the
/// decoder, and asks for each next read itself: the sequencer behind it may be holding
/// reads back.
final class LingeringClose: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    static let quietTimeout = TimeAmount.seconds(2)
    static let totalTimeout = TimeAmount.seconds(30)

    private let quietTimeout: TimeAmount
    private let totalTimeout: TimeAmount
    /// Set when added, by the loop's clock.
    private var endsAt = NIODeadline.distantFuture
    private var timer: Scheduled<Void>?
    private var readSinceTimer = false

    init(quietTimeout: TimeAmount = LingeringClose.quietTimeout, totalTimeout: TimeAmount = LingeringClose.totalTimeout) {
        self.quietTimeout = quietTimeout
        self.totalTimeout = totalTimeout
    }

    /// Shuts `context`'s channel's output once everything written is out, then lingers —
    /// or, when the client cannot have sent anything more (`linger` false: it asked for the
    /// close and its request was read whole), closes at once, as lingering costs a handler,
    /// a timer and a read per connection (10–20% of a `Connection: close` request's CPU).
    /// Output shut already: another close got there first. Any other failure (the channel
    /// closing) closes it outright.
    static func closeWhenWritten(_ context: ChannelHandlerContext, linger: Bool) {
        let outputClosed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: outputClosed)
        let channel = context.channel
        outputClosed.futureResult.assumeIsolated().whenComplete { result in
            switch result {
            case .success:
                guard linger, channel.isActive,
                      (try? channel.pipeline.syncOperations.addHandler(LingeringClose(), position: .first)) != nil else {
                    channel.close(promise: nil)
                    return
                }
            case .failure(let error as ChannelError) where error == .outputClosed:
                return
            case .failure:
                channel.close(promise: nil)
            }
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        endsAt = context.eventLoop.now + totalTimeout
        schedule(context: context)
        context.read()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        readSinceTimer = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    /// Fires after ``quietTimeout`` (or at the end, if sooner); a read since the last firing
    /// moves the quiet deadline on.
    private func schedule(context: ChannelHandlerContext) {
        let at = min(context.eventLoop.now + quietTimeout, endsAt)
        let bound = context.loopBound
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) { [weak self] in
            guard let self else { return }
            let context = bound.value
            if self.readSinceTimer && context.eventLoop.now < self.endsAt {
                self.readSinceTimer = false
                self.schedule(context: context)
            } else {
                context.close(promise: nil)
            }
        }
    }
}
