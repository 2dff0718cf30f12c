import NIOHTTP1

/// Method tests the request path runs on every request, as `==` answers them without its
/// cost: NIOHTTP1's `HTTPMethod.==` compares the two raw-value strings (two getters and a
/// string comparison, ~150 instructions each time; eleven getters per proxied `/_api`
/// request). Matched on the case instead, with a `.RAW` spelling of the same method still
/// matching, as it does under `==`.
extension HTTPMethod {
    var isHEAD: Bool { matches(.HEAD) }
    var isGET: Bool { matches(.GET) }
    var isCONNECT: Bool { matches(.CONNECT) }
    var isTRACE: Bool { matches(.TRACE) }
    /// RFC 9110 §9.2.2: a request with such a method may be sent again (with its body, if
    /// the same one) and have the same effect.
    var isIdempotent: Bool {
        matches(.GET) || matches(.HEAD) || matches(.OPTIONS) || matches(.DELETE) || matches(.PUT) || matches(.TRACE)
    }

    /// `self == known` for one of the cases above (inlined, so the switch folds to one
    /// case test); only a `.RAW` method reads `known`'s spelling.
    @inline(__always)
    private func matches(_ known: HTTPMethod) -> Bool {
        switch (self, known) {
        case (.HEAD, .HEAD), (.GET, .GET), (.CONNECT, .CONNECT), (.TRACE, .TRACE), (.OPTIONS, .OPTIONS), (.DELETE, .DELETE),
             (.PUT, .PUT): return true
        case (.RAW(let value), _): return value == known.rawValue
        default: return false
        }
    }
}
