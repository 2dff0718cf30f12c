import NIOHTTP1

/// Framing rules the decoder does not enforce itself (SPEC "Routing", RFC 9112 read
/// strictly): exactly one `Host`; `Transfer-Encoding` only as a single `chunked`, never
/// beside `Content-Length`; `Content-Length` digits only, one value; no content on a TRACE.
/// A sidecar that accepts what the server behind it parses differently is a smuggling hole.
public enum RequestHeadValidator {
    public enum Violation: Error, Equatable {
        case hostCount
        case transferEncoding
        case contentLength
        /// A TRACE with content (RFC 9110 §9.3.8: a client must not send any). Its request
        /// goes upstream without framing fields (NIO's rule, Gatehouse's encoder's), so
        /// its body would be read there as the start of the next request.
        case traceContent
    }

    /// What routing reads from a request head besides its target, found in the one walk
    /// that validates it: six more walks (`contains`/`first` for the body's framing,
    /// `Upgrade`, `Host`, `Expect`) were ~2,000 instructions of every request.
    public struct Inspection: Equatable {
        /// The first framing rule broken, if any.
        public var violation: Violation?
        /// As ``RequestHeadValidator/declaredLength(_:)``.
        public var declaredLength: Int?
        /// The first `Host` value.
        public var host: String?
        /// The first `Expect` value.
        public var expect: String?
        /// Whether an `Upgrade` field is present.
        public var hasUpgrade: Bool
        /// The `Authorization` fields, for the gate (``APIGate``), which then need not walk
        /// the fields for them.
        public var authorization: AuthorizationField
        /// The fields' size as `name: value\r\n` lines: what the upstream head can keep of
        /// them is no larger (``UpstreamRequestBuilder`` sizes its buffer by it).
        public var fieldBytes: Int
        /// The `close` and `keep-alive` options of the `Connection` fields.
        public var connection: ConnectionOptions

        /// Whether the client's connection stays open after this request (RFC 9112 §9.3):
        /// not when it asks to close; an HTTP/1.0 client's only when it asks to keep it.
        /// llhttp's verdict for a request, found here because a decoder outside NIOHTTP1
        /// cannot hand it on in the head (``HTTPMessageDecoder``) and `isKeepAlive` would
        /// then walk the fields again (four allocations); a field naming both options reads
        /// as `close`, where llhttp keeps an HTTP/1.0 connection.
        public func keepsAlive(_ version: HTTPVersion) -> Bool {
            if connection.close { return false }
            if version.major == 1 && version.minor == 0 || version.major == 0 { return connection.keepAlive }
            return true
        }
    }

    public static func inspect(_ head: HTTPRequestHead) -> Inspection {
        var hosts = 0
        var host: String?
        var expect: String?
        var hasUpgrade = false
        var transferEncodings = 0
        var firstTransferEncoding = ""
        var contentLengths = 0
        var firstContentLength = ""
        var fieldBytes = 0
        var authorization = AuthorizationField.none
        var connection = ConnectionOptions()
        for (name, value) in head.headers {
            fieldBytes += HTTPHeadSerializer.lineByteCount(name: name, value: value)
            // Told apart by length first: most fields are none of these.
            switch name.utf8.count {
            case 4 where name.caseInsensitiveEquals("host"):
                hosts += 1
                if host == nil { host = value }
            case 6 where name.caseInsensitiveEquals("expect"):
                if expect == nil { expect = value }
            case 7 where name.caseInsensitiveEquals("upgrade"):
                hasUpgrade = true
            case 10 where name.caseInsensitiveEquals("connection"):
                connection.add(value)
            case 13 where name.caseInsensitiveEquals("authorization"):
                authorization.add(value)
            case 14 where name.caseInsensitiveEquals("content-length"):
                if contentLengths == 0 { firstContentLength = value }
                contentLengths += 1
            case 17 where name.caseInsensitiveEquals("transfer-encoding"):
                if transferEncodings == 0 { firstTransferEncoding = value }
                transferEncodings += 1
            default:
                break
            }
        }
        let declaredLength: Int? = transferEncodings > 0 ? nil : contentLengths > 0 ? Int(firstContentLength) ?? 0 : 0
        var violation: Violation?
        if hosts != 1 {
            violation = .hostCount
        } else if transferEncodings > 0, transferEncodings != 1 || contentLengths > 0
                    || !HTTPBodyFraming.isChunkedAlone(firstTransferEncoding) {
            violation = .transferEncoding
        } else if contentLengths > 0, contentLengths != 1 || firstContentLength.isEmpty
                    || !firstContentLength.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
                    || firstContentLength.utf8.count > 18 {
            violation = .contentLength
        } else if head.method.isTRACE, transferEncodings > 0 || (declaredLength ?? 0) > 0 {
            violation = .traceContent
        }
        return Inspection(
            violation: violation, declaredLength: declaredLength, host: host, expect: expect, hasUpgrade: hasUpgrade,
            authorization: authorization, fieldBytes: fieldBytes, connection: connection
        )
    }

    public static func validate(_ head: HTTPRequestHead) -> Violation? {
        inspect(head).violation
    }

    /// The declared body length (0 without `Content-Length` and `Transfer-Encoding`; `nil` when chunked).
    public static func declaredLength(_ head: HTTPRequestHead) -> Int? {
        inspect(head).declaredLength
    }
}

/// The connection options of a message's `Connection` fields that decide whether its
/// connection stays open (RFC 9110 §7.6.1: a comma-separated list of case-insensitive
/// tokens, optional white space around each).
public struct ConnectionOptions: Equatable, Sendable {
    public var close = false
    public var keepAlive = false

    public init() {}

    /// One more `Connection` field's value, walked in place as ``HeaderHygiene`` walks it.
    public mutating func add(_ value: String) {
        // What keep-alive clients send (Chromium on HTTP/1.1, HTTP/1.0 clients), told without
        // walking tokens (the walk through `Substring`s was ~1,000 instructions a request).
        if value.caseInsensitiveEquals("keep-alive") {
            keepAlive = true
            return
        }
        if value.caseInsensitiveEquals("close") {
            close = true
            return
        }
        HeaderHygiene.forEachPiece(of: value, separatedBy: UInt8(ascii: ",")) { piece in
            let token = piece.trimmingASCIISpaces()
            if token.caseInsensitiveEquals("close") {
                close = true
            } else if token.caseInsensitiveEquals("keep-alive") {
                keepAlive = true
            }
        }
    }
}

/// How many `Authorization` fields a request has, and the value when it is one: found in
/// a walk over the fields, with no array (`HTTPHeaders[name]` builds one).
public enum AuthorizationField: Equatable, Sendable {
    case none
    case one(String)
    case several

    /// Walking `headers` for them (where no inspection has).
    public init(_ headers: HTTPHeaders) {
        self = .none
        for (name, value) in headers where name.utf8.count == 13 && name.caseInsensitiveEquals("authorization") {
            add(value)
            if case .several = self { return }
        }
    }

    /// One more `Authorization` field.
    mutating func add(_ value: String) {
        switch self {
        case .none: self = .one(value)
        case .one, .several: self = .several
        }
    }
}

extension StringProtocol {
    /// Whether `self` equals `lowercase` ignoring ASCII case. Runs for nearly every header
    /// field of every request: over contiguous UTF-8 when both have it (native strings do).
    @inline(__always)
    @_disfavoredOverload
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

    /// The same against a literal (what nearly every caller compares with): its bytes are
    /// read where the binary holds them, where a `String` literal was copied out for each
    /// compare.
    @inline(__always)
    func caseInsensitiveEquals(_ lowercase: StaticString) -> Bool {
        guard utf8.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { theirs in
            if let result = utf8.withContiguousStorageIfAvailable({ Self.asciiCaseInsensitiveEqual($0, theirs) }) { return result }
            for (a, b) in zip(utf8, theirs) {
                let la = (a >= 65 && a <= 90) ? a + 32 : a
                if la != b { return false }
            }
            return true
        }
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
