import CZlib
import NIOCore

/// The `Content-Encoding`s the injector can decode and encode again (RFC 9110 §8.4.1).
enum HTTPContentCoding: Equatable {
    /// RFC 1952 (`gzip`, and `x-gzip`, its old name).
    case gzip
    /// RFC 1950 zlib format; some servers send raw RFC 1951 deflate under this name,
    /// which decoding also accepts.
    case deflate

    /// From a `Content-Encoding` value: `nil` for identity, `.none` when it is anything
    /// this module cannot decode (a list, `br`, `zstd`…).
    static func parse(_ value: String?) -> HTTPContentCoding?? {
        guard let value else { return .some(nil) }
        switch value.trimmingASCIISpaces().lowercased() {
        case "", "identity": return .some(nil)
        case "gzip", "x-gzip": return .some(.gzip)
        case "deflate": return .some(.deflate)
        default: return .none
        }
    }
}

/// A zlib inflate stream over `ByteBuffer`s that yields its output in pieces of a given
/// size, so a small body that inflates to a huge one (a zip bomb) never sits in memory
/// whole. Owns its `z_stream`; loop-confined, like the response it decodes.
final class ZlibInflater {
    /// Why ``inflate(_:into:limit:)`` returned.
    enum Progress: Equatable {
        /// All input was used; more is welcome.
        case needsInput
        /// `limit` bytes were produced; call again with the same input.
        case outputFull
        /// The compressed stream ended; anything after it was dropped.
        case streamEnded
    }

    private let stream: UnsafeMutablePointer<z_stream>
    private var initialized = false
    private var ended = false

    init() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
    }

    deinit {
        if initialized { inflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates from `input` (advancing its reader index) into `output`, producing at most
    /// `limit` bytes. The format (gzip, zlib or raw deflate) is read from the first byte.
    func inflate(_ input: inout ByteBuffer, into output: inout ByteBuffer, limit: Int) throws -> Progress {
        if ended {
            // Another gzip member may follow (RFC 1952 §2.2); trailing garbage is dropped,
            // as browsers do.
            guard let first = input.readableBytesView.first else { return .streamEnded }
            guard first == 0x1F, inflateReset(stream) == Z_OK else {
                input.moveReaderIndex(forwardBy: input.readableBytes)
                return .streamEnded
            }
            ended = false
        }
        if !initialized {
            guard let first = input.readableBytesView.first else { return .needsInput }
            // zlib's CMF byte says "deflate, window ≤ 32K"; gzip starts with 0x1F. Else raw.
            let wrapped = first == 0x1F || (first & 0x0F == 8 && first >> 4 <= 7)
            guard CZlib_inflateInit2(stream, wrapped ? 15 + 32 : -15) == Z_OK else { throw HTMLRewriteError.corruptBody }
            initialized = true
        }
        var result: Int32 = Z_OK
        var consumed = 0
        var produced = 0
        let stream = self.stream
        _ = input.withUnsafeReadableBytes { inBytes in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: limit) { outBytes in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: inBytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = UInt32(clamping: inBytes.count)
                stream.pointee.next_out = outBytes.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = UInt32(clamping: limit)
                result = CZlib.inflate(stream, Z_NO_FLUSH)
                produced = limit - Int(stream.pointee.avail_out)
                consumed = inBytes.count - Int(stream.pointee.avail_in)
                stream.pointee.next_in = nil
                stream.pointee.next_out = nil
                return produced
            }
        }
        input.moveReaderIndex(forwardBy: consumed)
        switch result {
        case Z_STREAM_END:
            ended = true
            if input.readableBytes > 0 { return try inflateMember(&input, into: &output, limit: limit - produced) }
            return .streamEnded
        case Z_OK, Z_BUF_ERROR:
            return produced == limit ? .outputFull : .needsInput
        default:
            throw HTMLRewriteError.corruptBody
        }
    }

    private func inflateMember(_ input: inout ByteBuffer, into output: inout ByteBuffer, limit: Int) throws -> Progress {
        guard limit > 0 else { return .outputFull }
        return try inflate(&input, into: &output, limit: limit)
    }
}
