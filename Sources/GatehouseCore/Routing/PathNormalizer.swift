/// Normalises request targets (SPEC "Routing"); pure and allocation-lean, runs on the
/// event loop for every request.
///
/// Steps, in order: split off the query; reject raw `\`, NUL and control bytes; decode
/// `%XX` of unreserved characters (RFC 3986 §2.3) and upper-case the hex of every other
/// escape; refuse encoded `/`, `\` and NUL (a server behind us might decode them into
/// separators); merge repeated `/`; remove `.` and `..` segments, refusing any that would
/// climb above the root.
public enum PathNormalizer {
    public static func normalize(_ target: String) -> Result<RequestTarget, RequestTargetError> {
        // The common case — nothing to decode, merge or resolve — read over the string's
        // contiguous bytes (a native string's): the same scans through `Substring.UTF8View`
        // were ~1,000 instructions of every request. No copy of the path is made.
        if let pathEnd = target.utf8.withContiguousStorageIfAvailable(alreadyNormalPathEnd) ?? nil {
            guard pathEnd < target.utf8.count else { return .success(RequestTarget(path: target, query: nil)) }
            let mark = target.utf8.index(target.utf8.startIndex, offsetBy: pathEnd)
            return .success(RequestTarget(path: String(target[..<mark]), query: target[target.utf8.index(after: mark)...]))
        }
        var utf8 = Substring(target).utf8[...]
        var query: Substring? = nil
        if let q = utf8.firstIndex(of: UInt8(ascii: "?")) {
            query = Substring(target)[target.utf8.index(after: q)...]
            utf8 = utf8[..<q]
        }
        guard utf8.first == UInt8(ascii: "/") else { return .failure(.notOriginForm) }
        if isAlreadyNormal(utf8) {
            // The common case: nothing to decode, merge or resolve; no copy is made.
            let path = query == nil ? target : String(Substring(utf8))
            return .success(RequestTarget(path: path, query: query))
        }

        // Decode into bytes, segment by segment.
        var decoded: [UInt8] = []
        decoded.reserveCapacity(utf8.count)
        var i = utf8.startIndex
        while i != utf8.endIndex {
            let byte = utf8[i]
            switch byte {
            case UInt8(ascii: "\\"): return .failure(.backslash)
            case 0: return .failure(.nulByte)
            case 0x01...0x20, 0x7f, UInt8(ascii: "#"): return .failure(.controlCharacter)
            case UInt8(ascii: "%"):
                let h1 = utf8.index(after: i)
                guard h1 != utf8.endIndex else { return .failure(.invalidPercentEncoding) }
                let h2 = utf8.index(after: h1)
                guard h2 != utf8.endIndex, let hi = hexValue(utf8[h1]), let lo = hexValue(utf8[h2]) else {
                    return .failure(.invalidPercentEncoding)
                }
                let value = hi << 4 | lo
                switch value {
                case UInt8(ascii: "/"): return .failure(.encodedSeparator)
                case UInt8(ascii: "\\"): return .failure(.backslash)
                case 0: return .failure(.nulByte)
                default: break
                }
                if isUnreserved(value) {
                    decoded.append(value)
                } else {
                    decoded.append(UInt8(ascii: "%"))
                    decoded.append(hexDigit(hi))
                    decoded.append(hexDigit(lo))
                }
                i = utf8.index(after: h2)
                continue
            default:
                decoded.append(byte)
            }
            i = utf8.index(after: i)
        }

        // Split on "/", drop empty segments (merging slashes), resolve dot segments.
        var segments: [ArraySlice<UInt8>] = []
        var start = decoded.startIndex
        let endsWithSlash = decoded.last == UInt8(ascii: "/")
        var lastWasDot = false
        for idx in decoded.indices where decoded[idx] == UInt8(ascii: "/") || idx == decoded.index(before: decoded.endIndex) {
            let end = decoded[idx] == UInt8(ascii: "/") ? idx : decoded.endIndex
            let segment = decoded[start..<end]
            start = decoded.index(after: idx)
            lastWasDot = false
            if segment.isEmpty { continue }
            if segment.elementsEqual([UInt8(ascii: ".")]) {
                lastWasDot = true
                continue
            }
            if segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                guard !segments.isEmpty else { return .failure(.climbsAboveRoot) }
                segments.removeLast()
                lastWasDot = true
                continue
            }
            segments.append(segment)
        }

        var out: [UInt8] = []
        out.reserveCapacity(decoded.count)
        for segment in segments {
            out.append(UInt8(ascii: "/"))
            out.append(contentsOf: segment)
        }
        if out.isEmpty || ((endsWithSlash || lastWasDot) && !segments.isEmpty) {
            out.append(UInt8(ascii: "/"))
        }
        return .success(RequestTarget(path: String(decoding: out, as: UTF8.self), query: query))
    }

    /// The length of the target's path (up to `?` or the end) when that path is already
    /// in normal form and origin-form; `nil` when it needs the full normalisation or is
    /// refused there.
    private static func alreadyNormalPathEnd(_ target: UnsafeBufferPointer<UInt8>) -> Int? {
        let end = target.firstIndex(of: UInt8(ascii: "?")) ?? target.count
        let path = UnsafeBufferPointer(rebasing: target[..<end])
        guard path.first == UInt8(ascii: "/"), isAlreadyNormal(path) else { return nil }
        return end
    }

    /// Whether the path is already in normal form: only plain bytes, no `%`, no empty,
    /// `.` or `..` segment. One pass, no allocation.
    static func isAlreadyNormal<Bytes: Collection<UInt8>>(_ path: Bytes) -> Bool {
        var segmentLength = -1  // -1: before the leading "/"
        var dotsOnly = true
        for byte in path {
            switch byte {
            case UInt8(ascii: "/"):
                if segmentLength == 0 { return false }  // "//"
                if dotsOnly && (segmentLength == 1 || segmentLength == 2) { return false }  // "." or ".."
                segmentLength = 0
                dotsOnly = true
            case UInt8(ascii: "%"), UInt8(ascii: "\\"), UInt8(ascii: "#"), 0...0x20, 0x7f:
                return false
            default:
                if byte != UInt8(ascii: ".") { dotsOnly = false }
                segmentLength += 1
            }
        }
        return !(dotsOnly && (segmentLength == 1 || segmentLength == 2))
    }

    /// Whether `path` lies under `prefix` (`/_api` matches `/_api` and `/_api/...`, not `/_apix`).
    /// Over contiguous bytes when both strings have them (the generic `starts(with:)` was
    /// ~400 instructions of every request).
    public static func path(_ path: String, isUnder prefix: String) -> Bool {
        if let fast = path.utf8.withContiguousStorageIfAvailable({ pathBytes in
            prefix.utf8.withContiguousStorageIfAvailable { prefixBytes in
                guard pathBytes.count >= prefixBytes.count,
                      pathBytes.count == prefixBytes.count || pathBytes[prefixBytes.count] == UInt8(ascii: "/") else { return false }
                for index in 0..<prefixBytes.count where pathBytes[index] != prefixBytes[index] { return false }
                return true
            }
        }), let fast {
            return fast
        }
        guard path.utf8.starts(with: prefix.utf8) else { return false }
        let rest = path.utf8.dropFirst(prefix.utf8.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "/")
    }

    /// `path` with `prefix` removed (`/_api/v1/x` → `/v1/x`, `/_api` → `/`).
    /// By UTF-8 byte, like ``path(_:isUnder:)``: `Character` steps would run grapheme
    /// breaking over every request's path.
    public static func strip(_ prefix: String, from path: String) -> Substring {
        let rest = Substring(path.utf8.dropFirst(prefix.utf8.count))
        return rest.isEmpty ? "/" : rest
    }

    private static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func hexDigit(_ v: UInt8) -> UInt8 {
        v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "A") + v - 10
    }
}
