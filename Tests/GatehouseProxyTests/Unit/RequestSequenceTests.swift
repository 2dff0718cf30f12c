import Testing
@testable import GatehouseProxy

/// Tier 1: the request/response order of one connection (``RequestSequence``), no channel.
@Suite struct RequestSequenceTests {
    typealias Sequence = RequestSequence<String>

    func check<T: Equatable>(_ got: T, _ expected: T, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got == expected, comment, sourceLocation: sourceLocation)
    }

    /// The next held event and its action, as "event action".
    func next(_ s: inout Sequence) -> String? {
        s.nextHeld().map { "\($0.0) \($0.1)" }
    }

    @Test func aWaitingClientKeepsReadInterestWhileItsResponseIsPending() {
        var s = Sequence()
        check(s.received(.head, "h1"), .deliver)
        check(s.received(.end, "e1"), .deliver)
        // NIO's HTTPServerPipelineHandler withholds this read (two epoll_ctl per request).
        check(s.readRequested(), true)
        check(s.responseEnded(), .write)
        check(s.readRequested(), true)
    }

    /// Whether a close lingers over unread input: not when the client asked for it (its
    /// HTTP/1.0 response ends at the close, nothing pipelined), at once when it pipelined
    /// or a read was withheld, and always at a drain.
    @Test func aCloseLingersOnlyWhereTheClientMayHaveSentMore() {
        var asked = Sequence()
        check(asked.received(.head, "h1"), .deliver)
        check(asked.received(.end, "e1"), .deliver)
        asked.closeAfterCurrentResponse()
        check(asked.closeShouldLinger, false)
        check(asked.responseEnded(), .writeThenClose)

        var pipelined = Sequence()
        check(pipelined.received(.head, "h1"), .deliver)
        check(pipelined.received(.end, "e1"), .deliver)
        pipelined.closeAfterCurrentResponse()
        check(pipelined.closeShouldLinger, false)
        check(pipelined.received(.head, "h2"), .none, "dropped: the response ends at the close")
        check(pipelined.closeShouldLinger, true, "it sent more: more may wait in the kernel")

        var holding = Sequence()
        check(holding.received(.head, "h1"), .deliver)
        check(holding.received(.end, "e1"), .deliver)
        check(holding.received(.head, "h2"), .none)
        check(holding.closeShouldLinger, true, "a pipelined request is held")

        var drained = Sequence()
        check(drained.received(.head, "h1"), .deliver)
        check(drained.received(.end, "e1"), .deliver)
        check(drained.quiesce(), false)
        check(drained.closeShouldLinger, true)
        check(drained.responseEnded(), .writeThenClose)

        var idle = Sequence()
        check(idle.closeShouldLinger, false)
        check(idle.quiesce(), true)
        check(idle.closeShouldLinger, true, "at a drain a request may be on its way")
    }

    @Test func pipelinedRequestsWaitForTheResponseAndStopReads() {
        var s = Sequence()
        check(s.received(.head, "h1"), .deliver)
        check(s.received(.end, "e1"), .deliver)
        check(s.received(.head, "h2"), .none)
        check(s.received(.body, "b2"), .none)
        check(s.received(.end, "e2"), .none)
        check(s.received(.head, "h3"), .none)
        check(s.received(.end, "e3"), .none)
        #expect(s.isHolding)
        check(s.readRequested(), false)
        check(next(&s), nil, "the first response has not ended")
        check(s.takeWithheldRead(), false)

        check(s.responseEnded(), .write)
        check(next(&s), "h2 deliver")
        check(next(&s), "b2 deliver")
        check(next(&s), "e2 deliver")
        check(next(&s), nil, "the second response has not ended")
        check(s.takeWithheldRead(), false, "the third request is still held")

        check(s.responseEnded(), .write)
        check(next(&s), "h3 deliver")
        check(next(&s), "e3 deliver")
        check(next(&s), nil)
        check(s.takeWithheldRead(), true, "the read withheld while holding goes out once all was handed on")
        check(s.takeWithheldRead(), false)
    }

    @Test func theBodyOfTheCurrentRequestFlowsWhileItsResponseStreams() {
        var s = Sequence()
        check(s.received(.head, "h1"), .deliver)
        check(s.received(.body, "b1"), .deliver)
        check(s.readRequested(), true)
        check(s.received(.body, "b1"), .deliver)
        check(s.received(.end, "e1"), .deliver)
    }

    @Test func anEarlyResponseLetsTheRestOfTheRequestAndTheNextOneThrough() {
        var s = Sequence()
        check(s.received(.head, "h1"), .deliver)
        check(s.responseEnded(), .write)
        check(s.received(.body, "b1"), .deliver)
        check(s.received(.end, "e1"), .deliver)
        check(s.received(.head, "h2"), .deliver)
    }

    @Test func aDrainFinishesTheCurrentExchangeAndDropsWhatWasPipelined() {
        var s = Sequence()
        _ = s.received(.head, "h1")
        _ = s.received(.end, "e1")
        _ = s.received(.head, "h2")
        check(s.quiesce(), false, "a request is in progress")
        #expect(s.responsesMustClose)
        #expect(!s.isHolding)
        check(s.received(.end, "e2"), .none)
        check(s.responseEnded(), .writeThenClose)

        var idle = Sequence()
        check(idle.quiesce(), true, "nothing in progress: close now")
        check(idle.received(.head, "h"), .none)
    }

    @Test func aDrainDuringARequestBodyWaitsForItsEnd() {
        var s = Sequence()
        _ = s.received(.head, "h1")
        check(s.quiesce(), false)
        check(s.received(.body, "b1"), .deliver)
        check(s.readRequested(), true, "the body still has to be read")
        check(s.responseEnded(), .write, "answered early; the request has not ended")
        check(s.received(.end, "e1"), .deliverThenClose)
    }

    @Test func aParseErrorIsTheLastRequestItsAnswerTheResponse() {
        var s = Sequence()
        _ = s.received(.head, "h1")
        _ = s.received(.end, "e1")
        check(s.received(.parseError, "bad"), .none, "held behind the pending response")
        check(s.responseEnded(), .write)
        check(next(&s), "bad deliver")
        check(s.received(.head, "h3"), .none, "held until the error's answer ends")
    }

    @Test func aClientNotTakingItsResponsesGetsNoNextRequestHandedOnOrRead() {
        var s = Sequence()
        check(s.received(.head, "h1"), .deliver)
        check(s.received(.end, "e1"), .deliver)
        check(s.responseEnded(), .write)
        // The answer sits in the outbound buffer: the client reads nothing.
        check(s.clientWritabilityChanged(false), false)
        check(s.readRequested(), false, "no more requests are read")
        check(s.received(.head, "h2"), .none, "already read: held, not answered into the pile")
        check(s.received(.end, "e2"), .none)
        check(next(&s), nil)
        check(s.clientWritabilityChanged(true), true)
        check(next(&s), "h2 deliver")
        check(next(&s), "e2 deliver")
        check(s.takeWithheldRead(), true, "reads resume (and stay on while the answer is pending)")
        check(s.takeWithheldRead(), false)
        check(s.responseEnded(), .write)
    }

    @Test func theCurrentRequestsBodyIsStillReadWhileTheClientDoesNotRead() {
        var s = Sequence()
        check(s.received(.head, "h1"), .deliver)
        check(s.clientWritabilityChanged(false), false)
        check(s.readRequested(), true, "the exchange applies its own backpressure to the body")
        check(s.received(.body, "b1"), .deliver)
        check(s.received(.end, "e1"), .deliver)
        check(s.readRequested(), false)
    }
}

/// ``RequestSequence`` against a model, on random interleavings of a well-formed pipelining
/// client, a server answering whenever it likes, read requests and writability flips.
@Suite struct RequestSequenceModelTests {
    /// A small deterministic generator (SplitMix64), so a failure replays.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: 0..<200)
    func requestsGoOnOneAtATimeInOrderAndNothingIsLeftBehind(seed: Int) {
        var random = SplitMix(state: UInt64(seed))
        var s = RequestSequence<String>()
        var sent: [String] = []  // the client's parts, in order
        var delivered: [String] = []
        var openRequest: Int?  // index of the request being sent
        var nextRequest = 0
        var deliveredRequestsEnded = 0  // requests whose `.end` was handed on
        var responsesEnded = 0
        var writable = true

        func take(_ action: RequestSequence<String>.InboundAction, _ event: String) {
            #expect(action == .deliver || action == .none, "no close without a drain (seed \(seed))")
            if action == .deliver { hand(event) }
        }
        func hand(_ event: String) {
            delivered.append(event)
            if event.hasPrefix("h") {
                #expect(responsesEnded == deliveredRequestsEnded, "a head while an answer is owed (seed \(seed))")
            }
            if event.hasPrefix("e") { deliveredRequestsEnded += 1 }
        }
        func drain() {
            while let (event, action) = s.nextHeld() { take(action, event) }
        }

        for _ in 0..<300 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0...4:  // the client sends the next part
                if let r = openRequest {
                    let part = Bool.random(using: &random) ? "b\(r)" : "e\(r)"
                    if part.hasPrefix("e") { openRequest = nil }
                    sent.append(part)
                    take(s.received(part.hasPrefix("b") ? .body : .end, part), part)
                } else {
                    openRequest = nextRequest
                    nextRequest += 1
                    sent.append("h\(openRequest ?? 0)")
                    take(s.received(.head, "h\(openRequest ?? 0)"), "h\(openRequest ?? 0)")
                }
            case 5, 6:  // the server ends the answer it owes (once the request has ended)
                if deliveredRequestsEnded > responsesEnded {
                    responsesEnded += 1
                    #expect(s.responseEnded() == .write)
                    drain()
                }
            case 7:
                _ = s.readRequested()
                _ = s.takeWithheldRead()
            default:
                writable.toggle()
                if s.clientWritabilityChanged(writable) { drain() }
            }
        }
        // Settle: the client takes its answers again and the server answers everything.
        if s.clientWritabilityChanged(true) { drain() }
        while deliveredRequestsEnded > responsesEnded {
            responsesEnded += 1
            _ = s.responseEnded()
            drain()
        }
        #expect(delivered == sent, "everything sent was handed on, in order (seed \(seed))")
        #expect(!s.isHolding)
    }
}
