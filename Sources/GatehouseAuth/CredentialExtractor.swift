import GatehouseCore

/// Where a request's credential came from; the gate treats cookie tokens specially (Clerk's
/// `__client_uat` rule) and strips credential cookies before forwarding.
public enum CredentialSource: Sendable, Equatable {
    case authorizationHeader
    case sessionCookie
}

/// A credential found on a request. Its description never shows the token.
public struct Credential: Sendable, Equatable, CustomStringConvertible {
    /// The bearer token or API key, as sent.
    public let token: String
    public let source: CredentialSource
    /// `__client_uat` (or the `__client_uat_<suffix>` matching the session cookie) as Unix
    /// seconds, for a cookie credential; `nil` otherwise or when absent or not an integer.
    public let clientUAT: Int64?

    public init(token: String, source: CredentialSource, clientUAT: Int64? = nil) {
        self.token = token
        self.source = source
        self.clientUAT = clientUAT
    }

    public var description: String { "Credential(source: \(source), token: <redacted>)" }
}

/// The outcome of looking for a credential on a request.
public enum CredentialExtraction: Sendable, Equatable {
    /// No credential at all (`missing_token`, or anonymous under `auth.mode: none`).
    case none
    /// An `Authorization` header that is not exactly one `Bearer <token>` (`malformed`).
    case malformedHeader
    case credential(Credential)
}

/// Finds the request's credential in SPEC order: `Authorization: Bearer <token>` first (when
/// that header is present the cookies are ignored), then the `__session` cookie, then a
/// `__session_<suffix>` cookie. Never the query string. Pure; runs on the event loop.
public enum CredentialExtractor {
    /// - Parameters:
    ///   - authorizationValues: every `Authorization` field value, in order.
    ///   - cookieHeaderValues: every `Cookie` field value, in order.
    public static func extract(authorizationValues: [String], cookieHeaderValues: [String]) -> CredentialExtraction {
        if !authorizationValues.isEmpty {
            guard authorizationValues.count == 1 else { return .malformedHeader }
            return extract(authorization: authorizationValues[0])
        }
        return sessionCookie(cookieHeaderValues)
    }

    /// The credential of a request's one `Authorization` field (the cookies do not count
    /// then): `malformedHeader` unless it is `Bearer <token>`.
    public static func extract(authorization value: String) -> CredentialExtraction {
        guard let token = bearerToken(value) else { return .malformedHeader }
        return .credential(Credential(token: String(token), source: .authorizationHeader))
    }

    /// The token of `Bearer <token>` (RFC 6750 §2.1): scheme in any case, one or more spaces,
    /// then visible ASCII with no spaces. Surrounding optional white space is ignored. A
    /// slice of `value`, not a copy: a cached token is looked up in place.
    public static func bearerToken(_ value: String) -> Substring? {
        guard let candidate = bearerCandidate(value), isVisibleASCII(candidate) else { return nil }
        return candidate
    }

    /// ``bearerToken(_:)`` without the check of the token's characters: for a caller that
    /// looks the token up among tokens already checked (and verified) first, and checks it
    /// with ``isVisibleASCII(_:)`` only when it is not there. A 700-byte token's scan was ~1%
    /// of a cached-token request.
    public static func bearerCandidate(_ value: String) -> Substring? {
        // Read in place (no byte array): this runs on every gated request.
        let range = value.withUTF8Bytes { bytes -> Range<Int>? in
            let trimmed = bytes.trimmingOWS(0..<bytes.count)
            let start = trimmed.lowerBound
            let end = trimmed.upperBound
            let scheme: StaticString = "bearer"
            let schemeCount = scheme.utf8CodeUnitCount
            guard end - start > schemeCount + 1 else { return nil }
            let matches = scheme.withUTF8Buffer { scheme in
                (0..<schemeCount).allSatisfy { bytes[start + $0] | 0x20 == scheme[$0] }
            }
            guard matches else { return nil }
            var i = start + schemeCount
            guard bytes[i] == 0x20 else { return nil }
            while i < end, bytes[i] == 0x20 { i += 1 }
            guard i < end else { return nil }
            return i..<end
        }
        guard let range else { return nil }
        // Byte offsets of ASCII, on the string's UTF-8 view: constant-time on native strings.
        let utf8 = value.utf8
        let lower = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
        let upper = utf8.index(lower, offsetBy: range.count)
        return Substring(utf8[lower..<upper])
    }

    /// Whether a bearer candidate is all visible ASCII (no spaces, controls or non-ASCII).
    public static func isVisibleASCII(_ token: Substring) -> Bool {
        var token = token
        return token.withUTF8 { VisibleASCII.contains(only: $0) }
    }

    /// `__session` wins over `__session_<suffix>`; the matching `__client_uat` is attached
    /// (with `__session` and no `__client_uat`, the first `__client_uat_<suffix>` in order).
    ///
    /// Over each value's bytes: pieces between `;`, a name and a value around the first
    /// `=`, each without surrounding spaces and tabs, a value's double quotes taken off.
    /// Splitting the value into `Substring`s by `Character` (grapheme breaking over the
    /// ~700-byte token) and counting the value's characters was ~250,000 instructions of
    /// every call authenticated by the cookie, three times the rest of such a request.
    /// Names are compared as bytes, as servers read them.
    static func sessionCookie(_ headerValues: [String]) -> CredentialExtraction {
        var cookies = SessionCookies()
        for header in headerValues {
            header.withUTF8Bytes { cookies.note($0) }
        }
        if let session = cookies.session {
            let raw = cookies.uat ?? cookies.suffixedUAT.first?.value
            return .credential(Credential(token: session, source: .sessionCookie, clientUAT: raw.flatMap { Int64($0) }))
        }
        if let suffixed = cookies.suffixed {
            let raw = cookies.suffixedUAT.first(where: { $0.suffix == suffixed.suffix })?.value ?? cookies.uat
            return .credential(
                Credential(token: suffixed.value, source: .sessionCookie, clientUAT: raw.flatMap { Int64($0) }))
        }
        return .none
    }
}

/// The Clerk cookies of a request's `Cookie` fields, the first of each name kept.
private struct SessionCookies {
    var session: String?
    var suffixed: (suffix: String, value: String)?
    var uat: String?
    /// In order of arrival, one per suffix.
    var suffixedUAT: [(suffix: String, value: String)] = []

    mutating func note(_ bytes: UnsafeBufferPointer<UInt8>) {
        bytes.forEachPiece(separatedBy: UInt8(ascii: ";")) { piece in
            var equals = piece.lowerBound
            while equals < piece.upperBound, bytes[equals] != UInt8(ascii: "=") { equals += 1 }
            guard equals < piece.upperBound else { return }
            let name = bytes.trimmingOWS(piece.lowerBound..<equals)
            var value = bytes.trimmingOWS(equals + 1..<piece.upperBound)
            if value.count >= 2, bytes[value.lowerBound] == UInt8(ascii: "\""), bytes[value.upperBound - 1] == UInt8(ascii: "\"") {
                value = value.lowerBound + 1..<value.upperBound - 1
            }
            note(name: name, value: value, in: bytes)
        }
    }

    private mutating func note(name: Range<Int>, value: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) {
        func text(_ range: Range<Int>) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }
        if bytes.equals(name, "__session") {
            if session == nil, !value.isEmpty { session = text(value) }
        } else if bytes.hasPrefix(name, "__session_") {
            if suffixed == nil, !value.isEmpty { suffixed = (text(name.lowerBound + 10..<name.upperBound), text(value)) }
        } else if bytes.equals(name, "__client_uat") {
            if uat == nil { uat = text(value) }
        } else if bytes.hasPrefix(name, "__client_uat_") {
            let suffix = text(name.lowerBound + 13..<name.upperBound)
            if !suffixedUAT.contains(where: { $0.suffix == suffix }) { suffixedUAT.append((suffix, text(value))) }
        }
    }
}
