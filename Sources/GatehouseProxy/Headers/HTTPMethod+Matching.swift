import NIOHTTP1

/// Method tests the request path runs on every request, as `==` answers them without its
/// cost: NIOHTTP1's `HTTPMethod.==` compares the two raw-value strings (two getters and a
/// string comparison, ~150 instructions each time; eleven getters per proxied `/_api`
/// request). Matched on the case instead, with a `.RAW` spelling of the same method still
/// matching, as it does under `==`.
extension HTTPMethod {
    var isHEAD: Bool {
        switch self {
        case .HEAD: return true
        case .RAW(let value): return value == "HEAD"
        default: return false
        }
    }

    var isGET: Bool {
        switch self {
        case .GET: return true
        case .RAW(let value): return value == "GET"
        default: return false
        }
    }

    var isCONNECT: Bool {
        switch self {
        case .CONNECT: return true
        case .RAW(let value): return value == "CONNECT"
        default: return false
        }
    }

    var isTRACE: Bool {
        switch self {
        case .TRACE: return true
        case .RAW(let value): return value == "TRACE"
        default: return false
        }
    }
}
