import GatehouseCore
import NIOCore
import NIOHTTP1

/// Writes an HTTP/1 head into one buffer, sized up front, in one pass.
///
/// NIO's encoders write a head piece by piece — four `ByteBuffer` writes per header, each
/// with its capacity check and runtime exclusivity check, into a 256-byte buffer that a
/// proxied head outgrows — ~11,000 instructions for the upstream request head of a
/// `/_api` call, 8% of the proxy's own, and ~4,000 for the response head. Here: one size
/// sum, one `writeWithUnsafeMutableBytes`, one `memcpy` per piece.
///
/// No validation: every name and value was either parsed by llhttp (which admits no CR or
/// LF in either) or built by Gatehouse from validated parts (see `ProxyServer`'s note on
/// outbound header validation), exactly as with NIO's encoder configured as Gatehouse does.
enum HTTPHeadSerializer {
    static func write(_ head: HTTPRequestHead, into buffer: inout ByteBuffer) {
        write(head, headerBytes: byteCount(of: head.headers), into: &buffer)
    }

    /// With the header block's size already known (``byteCount(of:)``, or counted by
    /// ``HTTPBodyFraming/frame(_:version:body:)``).
    static func write(_ head: HTTPRequestHead, headerBytes: Int, into buffer: inout ByteBuffer) {
        let method = head.method.rawValue
        let size = method.utf8.count + 1 + head.uri.utf8.count + 1 + versionByteCount(head.version) + 2 + headerBytes
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var writer = Writer(out: out)
            writer.put(method)
            writer.put(byte: UInt8(ascii: " "))
            writer.put(head.uri)
            writer.put(byte: UInt8(ascii: " "))
            writer.put(version: head.version)
            writer.putCRLF()
            writer.put(head.headers)
            return writer.offset
        }
    }

    /// `HTTP/1.1 200 OK`: the version, the code and the status's reason phrase, as NIO's
    /// response encoder writes them.
    static func write(_ head: HTTPResponseHead, into buffer: inout ByteBuffer) {
        write(head, headerBytes: byteCount(of: head.headers), into: &buffer)
    }

    /// With the header block's size already known, as for a request head.
    static func write(_ head: HTTPResponseHead, headerBytes: Int, into buffer: inout ByteBuffer) {
        let size = statusLineByteCount(head) + headerBytes
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var writer = Writer(out: out)
            writer.statusLine(head)
            writer.put(head.headers)
            return writer.offset
        }
    }

    /// `HTTP/1.1 200 OK\r\n`, as ``Writer/statusLine(_:)`` writes it.
    private static func statusLineByteCount(_ head: HTTPResponseHead) -> Int {
        versionByteCount(head.version) + 1 + decimalDigits(head.status.code) + 1 + head.status.reasonPhrase.utf8.count + 2
    }

    /// A response head whose fields framing leaves as they are (a `Content-Length` and no
    /// `Transfer-Encoding`; or, on a bodiless answer, neither), written in one walk over
    /// them, into the room `buffer` already has (the loop's spare: 1 KB and up). Framing
    /// first walked the fields to count and check them, then the writer walked them again:
    /// ~1,100 instructions of every proxied response and every local answer. `nil`, with
    /// nothing written, when framing would edit the fields (adding `chunked`, dropping a
    /// field) or they do not fit: the caller frames, then writes (``HTTPBodyFraming/frame(_:version:body:)``).
    static func writeIfFramed(_ head: HTTPResponseHead, body: HTTPBodyFraming.BodyExpectation, into buffer: inout ByteBuffer) -> HTTPBodyFraming? {
        var framing: HTTPBodyFraming?
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { out in
            var writer = Writer(out: out)
            guard statusLineByteCount(head) <= out.count else { return 0 }
            writer.statusLine(head)
            var hasLength = false
            var hasTransferEncoding = false
            for (name, value) in head.headers {
                guard lineByteCount(name: name, value: value) + blankLineByteCount <= out.count - writer.offset else { return 0 }
                switch name.utf8.count {
                case 14: hasLength = hasLength || name.caseInsensitiveEquals("content-length")
                case 17: hasTransferEncoding = hasTransferEncoding || name.caseInsensitiveEquals("transfer-encoding")
                default: break
                }
                writer.field(name, value)
            }
            switch body {
            case .no:
                guard !hasLength, !hasTransferEncoding else { return 0 }
                framing = .neither
            case .yes, .unlikely:
                guard hasLength, !hasTransferEncoding else { return 0 }
                framing = .contentLength
            }
            writer.putCRLF()
            return writer.offset
        }
        return framing
    }

    private static func decimalDigits(_ value: UInt) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return digits
    }

    /// `name: value\r\n` per field and the blank line.
    static func write(_ headers: HTTPHeaders, into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: byteCount(of: headers)) { out in
            var writer = Writer(out: out)
            writer.put(headers)
            return writer.offset
        }
    }

    static func byteCount(of headers: HTTPHeaders) -> Int {
        var count = blankLineByteCount
        for (name, value) in headers { count += lineByteCount(name: name, value: value) }
        return count
    }

    /// One field's `name: value\r\n`, as ``Writer`` writes it; shared with the count
    /// ``HTTPBodyFraming/frame(_:version:body:)`` makes in its own walk.
    @inline(__always)
    static func lineByteCount(name: String, value: String) -> Int {
        name.utf8.count + 2 + value.utf8.count + 2
    }

    /// The `\r\n` that ends a header block.
    static let blankLineByteCount = 2

    /// The size of what a ``Writer`` would write.
    struct LineCount: HeaderFieldSink {
        var bytes = 0

        mutating func field(_ name: String, _ value: String) {
            bytes += HTTPHeadSerializer.lineByteCount(name: name, value: value)
        }

        mutating func field(_ name: String, _ id: RequestID) {
            bytes += name.utf8.count + 2 + id.utf8Count + 2
        }

        mutating func lines(_ run: [UInt8]) {
            bytes += run.count
        }

        mutating func end() {
            bytes += HTTPHeadSerializer.blankLineByteCount
        }
    }

    /// `METHOD target HTTP/1.1\r\n`, as ``Writer/requestLine(_:uri:)`` writes it.
    static func requestLineByteCount(_ method: HTTPMethod, uri: String) -> Int {
        method.rawValue.utf8.count + 1 + uri.utf8.count + 1 + 8 + 2
    }

    private static func versionByteCount(_ version: HTTPVersion) -> Int {
        switch (version.major, version.minor) {
        case (1, 0), (1, 1): return 8
        default: return "HTTP/\(version.major).\(version.minor)".utf8.count
        }
    }

    /// Copies into the buffer's writable bytes, which were sized for everything put. Every
    /// put checks its bound (a compare): a size counted wrong traps instead of writing past
    /// the buffer, which unchecked raw-pointer writes in a release build would do.
    /// Also ``UpstreamRequestBuilder``'s, which writes the upstream head as it decides it.
    struct Writer: HeaderFieldSink {
        let out: UnsafeMutableRawBufferPointer
        var offset = 0

        init(out: UnsafeMutableRawBufferPointer) {
            self.out = out
        }

        /// `name: value\r\n`.
        mutating func field(_ name: String, _ value: String) {
            value.withUTF8Bytes { field(name, bytes: $0) }
        }

        mutating func field(_ name: String, _ id: RequestID) {
            id.withUTF8Bytes { field(name, bytes: $0) }
        }

        private mutating func field(_ name: String, bytes value: UnsafeBufferPointer<UInt8>) {
            put(name)
            put(UInt8(ascii: ":"), UInt8(ascii: " "))
            put(bytes: value)
            putCRLF()
        }

        mutating func lines(_ run: [UInt8]) {
            run.withUnsafeBufferPointer { put(bytes: $0) }
        }

        mutating func end() {
            putCRLF()
        }

        /// `HTTP/1.1 200 OK\r\n`: the version, the code and the status's reason phrase.
        mutating func statusLine(_ head: HTTPResponseHead) {
            put(version: head.version)
            put(byte: UInt8(ascii: " "))
            put(decimal: head.status.code)
            put(byte: UInt8(ascii: " "))
            put(head.status.reasonPhrase)
            putCRLF()
        }

        /// `METHOD target HTTP/1.1\r\n`.
        mutating func requestLine(_ method: HTTPMethod, uri: String) {
            put(method.rawValue)
            put(byte: UInt8(ascii: " "))
            put(uri)
            put(byte: UInt8(ascii: " "))
            put(version: .http1_1)
            putCRLF()
        }

        /// From the string's own bytes (``Swift/String/withUTF8Bytes(_:)``: no copy of each
        /// name and value).
        mutating func put(_ string: String) {
            string.withUTF8Bytes { put(bytes: $0) }
        }

        @inline(__always)
        private mutating func put(bytes: UnsafeBufferPointer<UInt8>) {
            precondition(bytes.count <= out.count - offset, "HTTP head larger than its counted size")
            UnsafeMutableRawBufferPointer(rebasing: out[offset..<offset + bytes.count]).copyMemory(from: UnsafeRawBufferPointer(bytes))
            offset += bytes.count
        }

        mutating func put(byte: UInt8) {
            precondition(offset < out.count, "HTTP head larger than its counted size")
            out[offset] = byte
            offset += 1
        }

        mutating func putCRLF() {
            put(UInt8(ascii: "\r"), UInt8(ascii: "\n"))
        }

        /// Two bytes, one bound check: `": "` and `"\r\n"` go around every field.
        @inline(__always)
        mutating func put(_ first: UInt8, _ second: UInt8) {
            precondition(2 <= out.count - offset, "HTTP head larger than its counted size")
            out[offset] = first
            out[offset + 1] = second
            offset += 2
        }

        mutating func put(decimal value: UInt) {
            let digits = HTTPHeadSerializer.decimalDigits(value)
            var rest = value
            for index in stride(from: offset + digits - 1, through: offset, by: -1) {
                out[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            offset += digits
        }

        mutating func put(version: HTTPVersion) {
            switch (version.major, version.minor) {
            case (1, 1): put("HTTP/1.1")
            case (1, 0): put("HTTP/1.0")
            default: put("HTTP/\(version.major).\(version.minor)")
            }
        }

        mutating func put(_ headers: HTTPHeaders) {
            for (name, value) in headers { field(name, value) }
            putCRLF()
        }
    }
}
