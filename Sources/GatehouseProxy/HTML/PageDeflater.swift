import CIsal
import NIOCore

/// Compresses an injected page again, in the format the upstream used (gzip, or zlib for
/// `deflate`), with ISA-L's igzip at its level 1. Owns its stream; loop-confined, like
/// the response it encodes.
///
/// Fast on purpose, as nginx (`gzip_comp_level` 1) and HAProxy (`tune.comp.maxlevel` 1)
/// compress on the fly: zlib's level 1 spent ~900,000 instructions on a 20 KB page —
/// twelve uncompressed pages' worth of proxying — where igzip's spends ~300,000 for as
/// small a body (4,227 bytes against zlib's 4,244). Decoding stays with zlib
/// (``ZlibInflater``): that side reads the upstream's bytes, this one only Gatehouse's.
final class PageDeflater {
    enum Flush {
        /// Buffer as the encoder likes.
        case none
        /// Everything so far decodable (byte-aligned, an empty stored block): the client
        /// sees the page as it streams, as zlib's `Z_SYNC_FLUSH` does.
        case sync
        /// The stream's last block and trailer.
        case finish
    }

    private static let step = 16 * 1024
    /// gzip's member header as zlib writes it at level 1 (RFC 1952 §2.3): no name, no
    /// time, `XFL` 4 ("fastest"), `OS` 3 (Unix). igzip's own says "unknown" for both.
    static let gzipHeader: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 4, 3]
    /// zlib's stream header at level 1 (RFC 1950 §2.2): deflate with a 32 KB window,
    /// `FLEVEL` 0 ("fastest"), the check bits making it a multiple of 31.
    static let zlibHeader: [UInt8] = [0x78, 0x01]

    /// igzip's level 1 encodes a whole block badly when the stream's first call, unflushed,
    /// brings less than its look-ahead (288 bytes): a 20 KB page fed as the injector feeds
    /// it (the 39 bytes up to `<head>`, the 168-byte snippet, the rest) came out at 12,005
    /// bytes instead of 4,405, for 60% more instructions. Smaller first pieces are held and
    /// given with the next.
    static let firstCallMinimum = 512

    private let stream: UnsafeMutablePointer<isal_zstream>
    private let levelBuffer: UnsafeMutableRawBufferPointer
    private var header: [UInt8]?
    /// Input held until igzip's first call can bring ``firstCallMinimum`` bytes; `nil`
    /// once that call is made.
    private var held: ByteBuffer? = ByteBuffer()

    init(_ coding: HTTPContentCoding) {
        stream = .allocate(capacity: 1)
        isal_deflate_init(stream)
        levelBuffer = .allocate(byteCount: Int(CIsal_level1BufferSize()), alignment: 64)
        stream.pointee.level = 1
        stream.pointee.level_buf = levelBuffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.pointee.level_buf_size = UInt32(levelBuffer.count)
        // The header is written here (igzip's has no `XFL`/`OS`), the trailer by igzip.
        stream.pointee.gzip_flag = UInt16(coding == .gzip ? IGZIP_GZIP_NO_HDR : IGZIP_ZLIB_NO_HDR)
        header = coding == .gzip ? Self.gzipHeader : Self.zlibHeader
    }

    deinit {
        levelBuffer.deallocate()
        stream.deallocate()
    }

    /// Compresses `input` into `output` (the header first, on the first call).
    func deflate(_ input: ByteBuffer, flush: Flush, into output: inout ByteBuffer) throws {
        if let header {
            output.writeBytes(header)
            self.header = nil
        }
        guard var first = held else { return try encode(input, flush: flush, into: &output) }
        held = nil
        if first.readableBytes == 0 && input.readableBytes >= Self.firstCallMinimum {
            return try encode(input, flush: flush, into: &output)
        }
        var more = input
        if flush == .none && first.readableBytes + more.readableBytes < Self.firstCallMinimum {
            if first.capacity == 0 { first.reserveCapacity(Self.firstCallMinimum) }
            first.writeBuffer(&more)
            held = first
            return
        }
        // One buffer of the exact size for the first call (the held bytes, then this piece).
        var joined = ByteBuffer()
        joined.reserveCapacity(first.readableBytes + more.readableBytes)
        joined.writeBuffer(&first)
        joined.writeBuffer(&more)
        try encode(joined, flush: flush, into: &output)
    }

    private func encode(_ input: ByteBuffer, flush: Flush, into output: inout ByteBuffer) throws {
        var failed = false
        let stream = self.stream
        input.withUnsafeReadableBytes { inBytes in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: inBytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.pointee.avail_in = UInt32(clamping: inBytes.count)
            stream.pointee.flush = UInt16(flush == .none ? NO_FLUSH : SYNC_FLUSH)
            stream.pointee.end_of_stream = flush == .finish ? 1 : 0
            while true {
                var result: Int32 = COMP_OK
                var full = false
                var progressed = false
                var sane = true
                let before = stream.pointee.avail_in
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.step) { outBytes in
                    let room = UInt32(clamping: outBytes.count)
                    stream.pointee.next_out = outBytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
                    stream.pointee.avail_out = room
                    result = isal_deflate(stream)
                    // Counts that grew would be an encoder fault: fail the response rather
                    // than trust them (igzip's inflate was seen to return such counts).
                    guard stream.pointee.avail_out <= room, stream.pointee.avail_in <= before else {
                        sane = false
                        return 0
                    }
                    full = stream.pointee.avail_out == 0
                    let produced = Int(room - stream.pointee.avail_out)
                    progressed = produced > 0 || stream.pointee.avail_in != before
                    return produced
                }
                if result != COMP_OK || !sane {
                    failed = true
                    break
                }
                // Done once the stream's end is written when finishing; else once all input
                // is taken and igzip had room to spare (so nothing it owes is held back).
                if flush == .finish ? CIsal_deflateEnded(stream) != 0 : (!full && stream.pointee.avail_in == 0) { break }
                // Not done, and a call that neither took input nor wrote output would never
                // be: the response is cut rather than the loop spun.
                if !progressed {
                    failed = true
                    break
                }
            }
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        if failed { throw HTMLRewriteError.corruptBody }
    }
}
