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
