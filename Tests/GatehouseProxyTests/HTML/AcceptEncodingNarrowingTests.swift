@_spi(Benchmarks) @testable import GatehouseProxy
import Testing

/// `Accept-Encoding` narrowed over bytes (``HTMLResponseRewriter/appendAcceptedCodings(of:to:)``)
/// against the `Substring` version it replaced, kept here as the model.
@Suite struct AcceptEncodingNarrowingTests {
    /// Every value of one to three entries built from entries that probe each rule
    /// (spaces and tabs around, weights, empty entries, `;` before the coding, case, names
    /// that only resemble the decodable ones, non-ASCII), joined by `,` or `, `, appended to
    /// an empty and to a non-empty `kept`.
    @Test func narrowingMatchesTheTextModel() {
        let entries = [
            "", " ", "gzip", "GZip", " gzip ", "\tdeflate\t", "gzip;q=0.8", "gzip ; q=1", ";gzip", ";;deflate;q=0", " ; ",
            "br", "zstd", "x-gzip", "X-GZIP;q=0", "identity", "identity;q=0", "*", "*;q=0", "gzipx", "gzi", "deflate-raw",
            "compress", "g\u{e9}zip", "gzip;\u{e9}=1", ";", "q=1;gzip",
        ]
        let checked = AppendingDifferential.check(
            pieces: entries, templates: { a, b in [a, "\(a),\(b)", "\(a), \(b), \(a)", "\(b) ,\(a),"] }, starts: ["", "gzip"],
            HTMLResponseRewriter.appendAcceptedCodings(of:to:), model: Self.referenceNarrowing(of:to:)
        )
        #expect(checked == entries.count * entries.count * 8)
    }

    @Test func aBrowsersValueKeepsWhatTheInjectorDecodes() {
        var kept = ""
        HTMLResponseRewriter.appendAcceptedCodings(of: "gzip, deflate, br, zstd", to: &kept)
        #expect(kept == "gzip, deflate")
        var weighted = ""
        HTMLResponseRewriter.appendAcceptedCodings(of: "br;q=1.0, GZIP ;q=0.5, *;q=0.1", to: &weighted)
        #expect(weighted == "GZIP ;q=0.5")
    }

    /// The narrowing as it was written over `Substring`s.
    private static func referenceNarrowing(of value: String, to kept: inout String) {
        HeaderHygiene.forEachPiece(of: value, separatedBy: UInt8(ascii: ",")) { piece in
            let entry = piece.trimmingASCIISpaces()
            let coding = entry.split(separator: ";", maxSplits: 1).first.map { $0.trimmingASCIISpaces().lowercased() } ?? ""
            guard coding == "gzip" || coding == "x-gzip" || coding == "deflate" || coding == "identity" else { return }
            if !kept.isEmpty { kept += ", " }
            kept += entry
        }
    }
}
