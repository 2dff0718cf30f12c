@testable import GatehouseProxy
import NIOCore
import Testing

/// The injector's encoder (igzip level 1) writes streams zlib decodes to exactly the bytes
/// given, in the upstream's format, whatever the pieces and flushes: after every sync
/// flush the output so far decodes to the input so far (the client renders the page as
/// it streams), and the finished stream passes zlib's own trailer checks (gzip's CRC-32
/// and length, zlib's Adler-32). Its bodies are as small as zlib's level 1 makes them.
@Suite struct PageDeflaterTests {
    /// Inputs that probe the encoder's paths: nothing, a few bytes, a 20 KB page of varied text
    /// (literals and matches), bytes that do not compress (stored-like blocks), and a
    /// megabyte of one byte (long matches, far more input than one output step).
    static let inputs: [(String, [UInt8])] = {
        var random = SystemRandomNumberGenerator()
        let words = ["account", "billing", "dashboard", "search", "widget", "settings", "team", "invoice", "usage", "deploy"]
        var page = "<!doctype html><html><head><title>Usage</title></head><body>"
        var seed: UInt64 = 7
        // 20 KB, the anchors' page size (igzip's first-piece fault showed on pages under its
        // 32 KB history, not on a 40 KB one).
        while page.utf8.count < 20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            page += "<p class=\"row-\(seed >> 54)\">" + (0..<12).map { words[Int((seed >> UInt64(4 * $0)) & 0x7) % words.count] }.joined(separator: " ") + "</p>\n"
        }
        return [
            ("empty", []),
            ("short", Array("<p>hi</p>".utf8)),
            ("page", Array(page.utf8.prefix(20_000))),
            ("random", (0..<150_000).map { _ in UInt8.random(in: 0...255, using: &random) }),
            ("zeros", [UInt8](repeating: 0, count: 1 << 20)),
        ]
    }()

    /// How the input is handed over: whole at the end; in pieces without flushing; in
    /// pieces each followed by a sync flush (as the injector streams a long page).
    enum Feeding: CaseIterable {
        case whole
        case piecesUnflushed
        case piecesSyncFlushed
    }

    /// Decodes `bytes` with the injector's zlib decoder as far as they go (a cut stream is
    /// no error); `ended` says whether the stream's end and trailer were read and checked.
    static func inflate(_ bytes: [UInt8]) -> (output: [UInt8], ended: Bool)? {
        let inflater = ZlibInflater()
        var input = ByteBuffer(bytes: bytes)
        var out = ByteBuffer()
        var progress = ZlibInflater.Progress.outputFull
        do {
            while progress == .outputFull { progress = try inflater.inflate(&input, into: &out, limit: 64 * 1024) }
        } catch {
            return nil
        }
        return (Array(out.readableBytesView), progress == .streamEnded)
    }

    @Test(arguments: [HTTPContentCoding.gzip, .deflate], Feeding.allCases)
    func everyStreamDecodesToItsInput(coding: HTTPContentCoding, feeding: Feeding) throws {
        for (name, input) in Self.inputs {
            let deflater = PageDeflater(coding)
            var out = ByteBuffer()
            switch feeding {
            case .whole:
                try deflater.deflate(ByteBuffer(bytes: input), flush: .finish, into: &out)
            case .piecesUnflushed, .piecesSyncFlushed:
                // Uneven pieces, one of them larger than the encoder's output step.
                var offset = 0
                var sizes = [1, 700, 5, 20_000, 3, 65_536, 4_096].makeIterator()
                while offset < input.count {
                    let size = min(sizes.next() ?? 9_000, input.count - offset)
                    try deflater.deflate(ByteBuffer(bytes: input[offset..<offset + size]), flush: feeding == .piecesSyncFlushed ? .sync : .none, into: &out)
                    offset += size
                    if feeding == .piecesSyncFlushed {
                        // Everything given so far can be read now, and nothing more.
                        let partial = try #require(Self.inflate(Array(out.readableBytesView)), "\(name)")
                        #expect(partial.output.elementsEqual(input[..<offset]), "\(name): \(partial.output.count) of \(offset) bytes readable")
                        #expect(!partial.ended)
                    }
                }
                try deflater.deflate(ByteBuffer(), flush: .finish, into: &out)
            }
            let bytes = Array(out.readableBytesView)
            #expect(Array(bytes.prefix(coding == .gzip ? 10 : 2)) == (coding == .gzip ? PageDeflater.gzipHeader : PageDeflater.zlibHeader), "\(name)")
            let decoded = try #require(Self.inflate(bytes), "\(name) does not decode")
            #expect(decoded.ended, "\(name): no end or a bad trailer")
            #expect(decoded.output.elementsEqual(input), "\(name): \(decoded.output.count) bytes decoded of \(input.count)")
        }
    }

    /// Mixed feedings: random pieces of text and noise, each with no flush or a sync flush
    /// at random, finished with or without a last piece. Seeded, so a failure repeats.
    @Test func mixedFeedingsDecodeToTheirInput() throws {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        let page = try #require(Self.inputs.first { $0.0 == "page" }?.1)
        for round in 0..<150 {
            let coding: HTTPContentCoding = round % 2 == 0 ? .gzip : .deflate
            let deflater = PageDeflater(coding)
            var out = ByteBuffer()
            var given: [UInt8] = []
            for _ in 0..<next(12) {
                let count = next(4) == 0 ? next(70_000) : next(600)
                let piece: [UInt8] = next(3) == 0
                    ? (0..<count).map { _ in UInt8(truncatingIfNeeded: next(256)) }
                    : Array(page[next(page.count / 2)...].prefix(count))
                given += piece
                try deflater.deflate(ByteBuffer(bytes: piece), flush: next(2) == 0 ? .none : .sync, into: &out)
            }
            let last: [UInt8] = next(2) == 0 ? [] : Array(page.prefix(next(2_000)))
            given += last
            try deflater.deflate(ByteBuffer(bytes: last), flush: .finish, into: &out)
            let decoded = try #require(Self.inflate(Array(out.readableBytesView)), "round \(round) does not decode")
            #expect(decoded.ended && decoded.output.elementsEqual(given), "round \(round): \(decoded.output.count) of \(given.count) bytes")
        }
    }

    /// Fed as the injector feeds a page — the bytes up to `<head>`, the snippet, the rest,
    /// unflushed — a page still comes out as small as zlib's level 1 makes it: igzip given
    /// a first piece under its look-ahead encoded the whole block at ~2.8 times the size.
    @Test(arguments: [HTTPContentCoding.gzip, .deflate])
    func smallFirstPiecesCostNothingInSize(coding: HTTPContentCoding) throws {
        let page = try #require(Self.inputs.first { $0.0 == "page" }?.1)
        let deflater = PageDeflater(coding)
        var out = ByteBuffer()
        var offset = 0
        for size in [39, 168, 16_345] {
            try deflater.deflate(ByteBuffer(bytes: page[offset..<offset + size]), flush: .none, into: &out)
            offset += size
        }
        try deflater.deflate(ByteBuffer(bytes: page[offset...]), flush: .none, into: &out)
        try deflater.deflate(ByteBuffer(), flush: .finish, into: &out)
        let zlibLevel1 = try Zlib.compress(page, coding, level: 1)
        #expect(out.readableBytes * 100 <= zlibLevel1.count * 103, "\(out.readableBytes) against zlib's \(zlibLevel1.count)")
        #expect(Self.inflate(Array(out.readableBytesView))?.output.elementsEqual(page) == true)
    }

    /// Level 1, not 0: a page of text comes out as small as zlib's level 1 makes it
    /// (igzip's level 0 is ~23% larger on it), and far smaller than the text.
    @Test func pagesComeOutAsSmallAsZlibsFastestLevel() throws {
        let page = try #require(Self.inputs.first { $0.0 == "page" }?.1)
        var out = ByteBuffer()
        try PageDeflater(.gzip).deflate(ByteBuffer(bytes: page), flush: .finish, into: &out)
        let zlibLevel1 = try Zlib.compress(page, .gzip, level: 1)
        #expect(out.readableBytes * 100 <= zlibLevel1.count * 103, "\(out.readableBytes) against zlib's \(zlibLevel1.count)")
        #expect(out.readableBytes * 3 < page.count)
    }
}
