import NIOHTTP1

/// Framing rules the decoder does not enforce itself (SPEC "Routing", RFC 9112 read
/// strictly): exactly one `Host`; `Transfer-Encoding` only as a single `chunked`, never
/// beside `Content-Length`; `Content-Length` digits only, one value. A sidecar that
/// accepts what the server behind it parses differently is a smuggling hole.
public enum RequestHeadValidator {
    public enum Violation: Error, Equatable {
        case hostCount
        case transferEncoding
        case contentLength
    }

    public static func validate(_ head: HTTPRequestHead) -> Violation? {
        var hosts = 0
        var transferEncodings: [String] = []
        var contentLengths: [String] = []
        for (name, value) in head.headers {
            if name.caseInsensitiveEquals("host") { hosts += 1 }
            else if name.caseInsensitiveEquals("transfer-encoding") { transferEncodings.append(value) }
            else if name.caseInsensitiveEquals("content-length") { contentLengths.append(value) }
        }
        guard hosts == 1 else { return .hostCount }
        if !transferEncodings.isEmpty {
            guard transferEncodings.count == 1, contentLengths.isEmpty,
                  transferEncodings[0].trimmingASCIISpaces().lowercased() == "chunked" else { return .transferEncoding }
        }
        if !contentLengths.isEmpty {
            guard contentLengths.count == 1, !contentLengths[0].isEmpty,
                  contentLengths[0].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  contentLengths[0].utf8.count <= 18 else { return .contentLength }
        }
        return nil
    }

    /// The declared body length (0 without `Content-Length` and `Transfer-Encoding`; `nil` when chunked).
    public static func declaredLength(_ head: HTTPRequestHead) -> Int? {
        if head.headers.contains(name: "transfer-encoding") { return nil }
        guard let value = head.headers.first(name: "content-length") else { return 0 }
        return Int(value) ?? 0
    }
}

extension StringProtocol {
    /// Whether `self` equals `lowercase` ignoring ASCII case. Runs for nearly every header
    /// field of every request: over contiguous UTF-8 when both have it (native strings do).
    @inline(__always)
    func caseInsensitiveEquals(_ lowercase: String) -> Bool {
        guard utf8.count == lowercase.utf8.count else { return false }
        let fast = utf8.withContiguousStorageIfAvailable { mine in
            lowercase.utf8.withContiguousStorageIfAvailable { theirs in
                Self.asciiCaseInsensitiveEqual(mine, theirs)
            }
        }
        if let fast, let result = fast { return result }
        for (a, b) in zip(utf8, lowercase.utf8) {
            let la = (a >= 65 && a <= 90) ? a + 32 : a
            if la != b { return false }
        }
        return true
    }

    @inline(__always)
    private static func asciiCaseInsensitiveEqual(_ a: UnsafeBufferPointer<UInt8>, _ lowercase: UnsafeBufferPointer<UInt8>) -> Bool {
        for i in 0..<a.count {
            let c = a[i]
            if (c >= 65 && c <= 90 ? c | 0x20 : c) != lowercase[i] { return false }
        }
        return true
    }
}
