import NIOCore
import NIOHTTP1

/// Serializes responses to the client, in place of NIO's `HTTPResponseEncoder` and with its
/// rules — a response to HEAD or CONNECT has no body; framing fields follow the status
/// (none on 1xx, 204, 304 or a CONNECT's answer), `Content-Length` wins, else chunked on
/// HTTP/1.1 — but writing each head with ``HTTPHeadSerializer`` in one pass (NIO's header
/// writing was ~4,000 instructions of every `/_api` response).
///
/// Not a handler of its own: the ``RequestSequencer``, which sees every response part and
/// every decoded request head in order (the methods this needs), runs it on its own
/// context. As a handler between the sequencer and the socket it cost a pipeline hop and
/// a dynamic cast of the part for every write, flush and read: ~3,000 instructions per
/// `/_api` exchange. Confined to the connection's event loop. An object (the sequencer's
/// `let`) rather than a value: its writes go to the context while it changes, and a
/// value's one access held across them made every access to the sequencer's copy checked
/// at run time (`swift_beginAccess`, seven per exchange; `Benchmarks/README.md`,
/// twenty-first round).
///
/// A `Content-Length` head is held back until the next part: a first body part of at most
/// ``coalescedBodyLimit`` bytes is copied behind it and both go down as one write (one
/// socket-level write less, ~1,500 instructions, for every small response — most API
/// answers), as nginx and HAProxy send a head and a small body in one buffer. Whatever
/// comes next — a larger or file body, the end, a flush, a close, the sequencer leaving
/// — writes the held head first (``writeHeldHead(context:)``), so the bytes and their
/// order are those of writing it at once.
final class ClientResponseEncoder {
    /// Body bytes worth a copy to save a write.
    static let coalescedBodyLimit = 4096

    private var isChunked = false
    /// A serialized `Content-Length` head not yet written, and its write's promise.
    private var heldHead: ByteBuffer?
    private var heldPromise: EventLoopPromise<Void>?
    /// The response under way answers a HEAD or CONNECT: its body parts are refused.
    private var suppressResponseBody = false
    /// Requests decoded and not yet answered by a final head, oldest first. Never `nil` but
    /// inside ``withRequests(_:)``.
    private var requests: CircularBuffer<Answered>? = CircularBuffer(initialCapacity: 4)
    /// The response just begun goes to an HTTP/1.0 client without a length: its body ends
    /// where the connection does (RFC 9112 §6.3), so the connection closes after it.
    private(set) var closesAfterResponse = false

    /// What framing needs of a request: its method, and whether its client reads chunks.
    private struct Answered {
        let method: HTTPMethod
        /// HTTP/1.0 (or older): never sent `Transfer-Encoding` (RFC 9112 §6.1).
        let beforeHTTP11: Bool
    }
    /// The loop's spare head buffer (``HeadBufferRecycler``).
    private let headBuffers: HeadBufferRecycler

    init(headBuffers: HeadBufferRecycler) {
        self.headBuffers = headBuffers
    }

    func recordRequest(_ head: HTTPRequestHead) {
        let version = head.version
        let answered = Answered(method: head.method, beforeHTTP11: version.major < 1 || (version.major == 1 && version.minor < 1))
        withRequests { $0.append(answered) }
    }

    /// Writes `part`'s bytes (as `IOData`) to the handler after `context`'s.
    func write(_ part: HTTPServerResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch part {
        case .head(var head):
            // A 1xx other than 101 is followed by the final head, which is the one that
            // answers the request.
            let code = head.status.code
            let interim = code >= 100 && code < 200 && code != 101
            var answeringConnect = false
            var beforeHTTP11 = false
            if !interim, let request = withRequests({ $0.popFirst() }) {
                beforeHTTP11 = request.beforeHTTP11
                // Matched, not compared: `HTTPMethod`'s `==` compares raw-value strings.
                switch request.method {
                case .HEAD: suppressResponseBody = true
                case .CONNECT: (suppressResponseBody, answeringConnect) = (true, true)
                default: suppressResponseBody = false
                }
            }
            // From the code already read: `head.status.mayHaveResponseBody` copied the status
            // out of the head's storage again (a retain and a release per response).
            let body: HTTPBodyFraming.BodyExpectation =
                answeringConnect || !HTTPBodyFraming.responseMayHaveBody(code: Int(code)) ? .no : .yes
            if !interim { closesAfterResponse = beforeHTTP11 && Self.frameForHTTP10(&head, body: body, bodySent: !suppressResponseBody) }
            writeHeldHead(context: context)
            var buffer = headBuffers.take()
            let framing: HTTPBodyFraming
            if let unedited = HTTPHeadSerializer.writeIfFramed(head, body: body, into: &buffer) {
                framing = unedited
            } else {
                // Framed by the request's version: an HTTP/1.0 client gets no chunks.
                let version = beforeHTTP11 ? HTTPVersion.http1_0 : head.version
                let (edited, headerBytes) = HTTPBodyFraming.frame(&head.headers, version: version, body: body)
                framing = edited
                HTTPHeadSerializer.write(head, headerBytes: headerBytes, into: &buffer)
            }
            isChunked = suppressResponseBody ? false : framing == .chunked
            if framing == .contentLength && !suppressResponseBody {
                heldHead = buffer
                heldPromise = promise
                return
            }
            context.write(NIOAny(IOData.byteBuffer(buffer)), promise: promise)
            headBuffers.recycle(buffer)
        case .body(let part):
            guard !suppressResponseBody else {
                // Nothing is written, so the head and end still make a bodiless response.
                promise?.fail(NIOHTTPResponseEncoderError.responseBodyNotAllowed)
                return
            }
            if var head = heldHead, case .byteBuffer(var bytes) = part, bytes.readableBytes <= Self.coalescedBodyLimit {
                // Released first: `head` is then the buffer's only holder and the body is
                // copied in place rather than into a copy of the whole buffer.
                heldHead = nil
                head.writeBuffer(&bytes)
                context.write(NIOAny(IOData.byteBuffer(head)), promise: Self.joined(heldPromise, promise))
                heldPromise = nil
                headBuffers.recycle(head)
                return
            }
            writeHeldHead(context: context)
            HTTPBodyFraming.writeBody(part, chunked: isChunked, context: context, promise: promise)
        case .end(let trailers):
            suppressResponseBody = false
            writeHeldHead(context: context)
            HTTPBodyFraming.writeEnd(trailers, chunked: isChunked, context: context, promise: promise)
        }
    }

    /// A response built once (``LocalResponse/Prebuilt``: the gate's 401s, which a flood of
    /// forged tokens makes the most frequent answer of all) written as its ready bytes, the
    /// head alone to a `HEAD`: what ``write(_:context:promise:)`` writes for its head and
    /// body, less serializing the head — reading NIO's `HTTPHeaders` copies each field's
    /// strings, two atomic retains and releases apiece — and the head's hold. `false`, with
    /// nothing done, where those bytes would differ: the answer to a `CONNECT` (no framing
    /// fields), or with no request waiting for an answer. Its `.end` follows as usual.
    func writePrebuilt(_ prebuilt: LocalResponse.Prebuilt, context: ChannelHandlerContext) -> Bool {
        guard let request = withRequests({ $0.first }) else { return false }
        // Matched, not compared (as in `write`).
        let headOnly: Bool
        switch request.method {
        case .CONNECT: return false
        case .HEAD: headOnly = true
        default: headOnly = false
        }
        withRequests { _ = $0.removeFirst() }
        // A `Content-Length` head: an HTTP/1.0 client reads it as it is, and the connection
        // is not closed for its sake (``frameForHTTP10(_:body:bodySent:)``).
        closesAfterResponse = false
        suppressResponseBody = headOnly
        isChunked = false
        writeHeldHead(context: context)
        context.write(NIOAny(IOData.byteBuffer(headOnly ? prebuilt.wireHead : prebuilt.wire)), promise: nil)
        return true
    }

    /// An answer to an HTTP/1.0 request: no `Transfer-Encoding` (its client cannot read
    /// chunks, RFC 9112 §6.1; the body goes as it is), and when a body without a length
    /// follows, `Connection: close` — its end is the close. Whether the connection must
    /// close after it.
    private static func frameForHTTP10(_ head: inout HTTPResponseHead, body: HTTPBodyFraming.BodyExpectation, bodySent: Bool) -> Bool {
        if head.headers.contains(name: "transfer-encoding") { head.headers.remove(name: "transfer-encoding") }
        guard body == .yes, bodySent, !head.headers.contains(name: "content-length") else { return false }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        return true
    }

    /// Writes a held head, if any: before a flush, a close or the encoder's removal.
    func writeHeldHead(context: ChannelHandlerContext) {
        guard let head = heldHead else { return }
        let promise = heldPromise
        heldHead = nil
        heldPromise = nil
        context.write(NIOAny(IOData.byteBuffer(head)), promise: promise)
        headBuffers.recycle(head)
    }

    /// Runs `body` on the requests moved out (`take()`) and back. Why: the buffer's growth
    /// calls into the standard library, and an access to a class's stored property spanning
    /// such a call is checked at run time (`swift_beginAccess`, ~75 instructions); moved,
    /// every access is a load or a store the whole-module optimizer proves exclusive
    /// (`Benchmarks/README.md`, twenty-first round).
    @inline(__always)
    private func withRequests<Result>(_ body: (inout CircularBuffer<Answered>) -> Result) -> Result {
        guard var requests = self.requests.take() else { preconditionFailure("response encoder's requests re-entered") }
        let result = body(&requests)
        self.requests = consume requests
        return result
    }

    /// One promise for a write that stands for two.
    private static func joined(_ first: EventLoopPromise<Void>?, _ second: EventLoopPromise<Void>?) -> EventLoopPromise<Void>? {
        guard let first else { return second }
        guard let second else { return first }
        second.futureResult.cascade(to: first)
        return second
    }
}
