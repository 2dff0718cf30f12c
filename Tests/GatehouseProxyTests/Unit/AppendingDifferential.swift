import Testing

/// Differential checks of a header value rebuilt from some of its elements and appended to
/// what was kept so far (the byte-wise `Cookie` and `Accept-Encoding` filters) against the
/// text version each replaced: every template filled with every ordered pair of pieces,
/// appended to each start.
enum AppendingDifferential {
    /// How many values were compared.
    static func check(
        pieces: [String], templates: (String, String) -> [String], starts: [String],
        _ subject: (String, inout String) -> Void, model: (String, inout String) -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Int {
        var checked = 0
        for a in pieces {
            for b in pieces {
                for value in templates(a, b) {
                    for start in starts {
                        var kept = start
                        subject(value, &kept)
                        var expected = start
                        model(value, &expected)
                        #expect(kept == expected, "\(value) after \(start)", sourceLocation: sourceLocation)
                        checked += 1
                    }
                }
            }
        }
        return checked
    }
}
