import GatehouseCore
import NIOCore
import NIOHTTP1

/// How a message's body is delimited, decided from its head as NIO's encoders decide it
/// (`correctlyFrameTransportHeaders`), and the body parts and trailers written that way.
/// Shared by Gatehouse's two HTTP/1 encoders, ``UpstreamRequestEncoder`` and
/// ``ClientResponseEncoder``.
enum HTTPBodyFraming: Equatable {
    case chunked, contentLength, neither

    /// Whether the message may carry a body: `.unlikely` is NIO's "only if its head declares one".
    enum BodyExpectation {
        case no, yes, unlikely
    }

    /// Whether a response with status `code` may carry a body (RFC 9110 §6.4.1: none
    /// after a 1xx, a 204 or a 304) — NIO's `HTTPResponseStatus.mayHaveResponseBody`, by
    /// code. The response decoder and the client encoder both ask it.
    static func responseMayHaveBody(code: Int) -> Bool {
        !(code >= 100 && code < 200) && code != 204 && code != 304
    }

    /// Frames `headers` for `version`: no framing fields on a bodiless message;
    /// `Content-Length` wins over `Transfer-Encoding`; an HTTP/1.1 message that will have
    /// a body and declares neither is sent chunked; otherwise a declared `chunked` (last
    /// coding, any case: ``endsInChunked(_:)``) stands.
    ///
    /// Also gives the size of the header block as ``HTTPHeadSerializer`` then writes it
    /// (`name: value\r\n` per field and the blank line), counted in the same walk: the
    /// serializer's own counting walk was ~600 instructions per head, on both sides of
    /// every exchange. Recounted when a framing field was removed or added (rare: the
    /// usual message is framed as it came).
    static func frame(_ headers: inout HTTPHeaders, version: HTTPVersion, body: BodyExpectation) -> (framing: HTTPBodyFraming, headerBytes: Int) {
        // One pass finds both fields; a field is removed (a scan of its own) only when there.
        var hasLength = false
        /// The first `Transfer-Encoding` value, if any.
        var transferEncoding: String?
        var headerBytes = HTTPHeadSerializer.blankLineByteCount
        for (name, value) in headers {
            headerBytes += HTTPHeadSerializer.lineByteCount(name: name, value: value)
            if name.caseInsensitiveEquals("content-length") {
                hasLength = true
            } else if transferEncoding == nil, name.caseInsensitiveEquals("transfer-encoding") {
                transferEncoding = value
            }
        }
        let framing: HTTPBodyFraming
        var edited = false
        if body == .no {
            if hasLength { headers.remove(name: "content-length") }
            if transferEncoding != nil { headers.remove(name: "transfer-encoding") }
            edited = hasLength || transferEncoding != nil
            framing = .neither
        } else if hasLength {
            if transferEncoding != nil {
                headers.remove(name: "transfer-encoding")
                edited = true
            }
            framing = .contentLength
        } else if version.major != 1 || version.minor < 1 {
            framing = .neither
        } else if body == .yes {
            headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
            edited = true
            framing = .chunked
        } else {
            framing = transferEncoding.map(endsInChunked) == true ? .chunked : .neither
        }
        return (framing, edited ? HTTPHeadSerializer.byteCount(of: headers) : headerBytes)
    }

    /// Whether a `Transfer-Encoding` value's last coding is `chunked`, in any case (RFC
    /// 9112 §7: codings are case-insensitive), as llhttp reads it on either side. NIO's
    /// encoders frame only an exact `chunked`: a GET sent with `Transfer-Encoding: Chunked`
    /// kept its field but had its body written unchunked, so the body's own bytes ended the
    /// upstream's chunked read and what followed was a request of its own (smuggled past
    /// the gate on a pooled connection).
    static func endsInChunked(_ value: String) -> Bool {
        value.withUTF8Bytes { bytes in
            var start = bytes.count
            while start > 0, bytes[start - 1] != UInt8(ascii: ",") { start -= 1 }
            return bytes.equalsIgnoringASCIICase(bytes.trimmingOWS(start..<bytes.count), "chunked")
        }
    }

    /// Whether a `Transfer-Encoding` value is `chunked` alone (any case, optional
    /// whitespace around it): the one coding Gatehouse admits in a request
    /// (``RequestHeadValidator``) and passes on in a response (``HeaderHygiene/cleanResponse(_:clientKeepsAlive:)``).
    static func isChunkedAlone(_ value: String) -> Bool {
        value.withUTF8Bytes { isChunkedAlone(bytes: $0) }
    }

    /// As ``isChunkedAlone(_:)``, from the value's bytes.
    static func isChunkedAlone(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.equalsIgnoringASCIICase(bytes.trimmingOWS(0..<bytes.count), "chunked")
    }

    /// A body part: as is, or as one chunk. An empty part is written empty (never as a
    /// chunk, which would read as the last one) so its promise completes in order.
    static func writeBody(_ part: IOData, chunked: Bool, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard chunked, part.readableBytes > 0 else {
            context.write(NIOAny(part), promise: promise)
            return
        }
        var size = context.channel.allocator.buffer(capacity: 18)
        size.writeString(String(part.readableBytes, radix: 16))
        size.writeStaticString("\r\n")
        context.write(NIOAny(IOData.byteBuffer(size)), promise: nil)
        context.write(NIOAny(part), promise: nil)
        var crlf = context.channel.allocator.buffer(capacity: 2)
        crlf.writeStaticString("\r\n")
        // Writes complete in order and a failure fails those after it: the last one's
        // promise stands for all three.
        context.write(NIOAny(IOData.byteBuffer(crlf)), promise: promise)
    }

    /// The end: the last chunk and trailers when chunked; otherwise nothing (an empty
    /// write when there is a promise to complete in order).
    static func writeEnd(_ trailers: HTTPHeaders?, chunked: Bool, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if chunked {
            var buffer = context.channel.allocator.buffer(capacity: 0)
            buffer.writeStaticString("0\r\n")
            if let trailers {
                HTTPHeadSerializer.write(trailers, into: &buffer)
            } else {
                buffer.writeStaticString("\r\n")
            }
            context.write(NIOAny(IOData.byteBuffer(buffer)), promise: promise)
        } else if let promise {
            context.write(NIOAny(IOData.byteBuffer(context.channel.allocator.buffer(capacity: 0))), promise: promise)
        }
    }
}
