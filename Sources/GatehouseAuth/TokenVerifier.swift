import GatehouseCore

/// Verifies a compact JWS bearer token against one app's keys and policy.
///
/// Runs the SPEC's checks in their fixed order, so the first failure names the reason:
/// 1. form (three base64url segments, header and payload JSON objects, no duplicate member,
///    a string `alg`) → `malformed`; 2. `alg` not one of ``JWTAlgorithm`` → `unsupported_alg`;
/// 3. `jwk`/`jku`/`x5u`/`x5c`/`crit` in the header → `malformed`; 4. key look-up → ``TokenVerificationOutcome/unknownKid(_:)``,
///    key not allowing `alg` → `unsupported_alg`; 5. signature over the exact original
///    `header.payload` bytes → `bad_signature`; 6. claim types → `malformed`;
/// 7. `expired`, `not_yet_valid`, `bad_issuer`, `bad_audience`, `unauthorized_party`.
///
/// Synchronous, no I/O, time passed in (`now`, seconds since 1970): safe on an event loop. No URL
/// from a token is ever fetched (RFC 8725 §3.10).
public struct TokenVerifier: Sendable {
    /// The claim rules applied after the signature.
    public let policy: TokenVerificationPolicy

    public init(policy: TokenVerificationPolicy) {
        self.policy = policy
    }

    /// Verifies `token` with `keys` at time `now`.
    public func verify(_ token: some StringProtocol, keys: VerificationKeySet, now: Double) -> TokenVerificationOutcome {
        verify(token, keys: keys, now: now, issuedNotBefore: nil)
    }

    /// As ``verify(_:keys:now:)``, and when `issuedNotBefore` is set (Clerk's `__client_uat` for
    /// a cookie token) a token whose `iat` is missing or older than it is `expired`.
    public func verify(
        _ token: some StringProtocol, keys: VerificationKeySet, now: Double, issuedNotBefore: Double?
    ) -> TokenVerificationOutcome {
        var headers = JOSEHeaderCache()
        return verify(token, keys: keys, now: now, issuedNotBefore: issuedNotBefore, headers: &headers)
    }

    /// As ``verify(_:keys:now:issuedNotBefore:)``, with the loop's parsed headers
    /// (``JOSEHeaderCache``): a header seen before is not decoded and parsed again.
    public func verify(
        _ token: some StringProtocol, keys: VerificationKeySet, now: Double, issuedNotBefore: Double?, headers: inout JOSEHeaderCache
    ) -> TokenVerificationOutcome {
        // One concrete copy of the text: the checks below then run on a byte buffer,
        // specialised in this module, instead of through generic witness calls.
        var text = String(token)
        return text.withUTF8 { verify(utf8: $0, keys: keys, now: now, issuedNotBefore: issuedNotBefore, headers: &headers) }
    }

    private func verify(
        utf8: UnsafeBufferPointer<UInt8>, keys: VerificationKeySet, now: Double, issuedNotBefore: Double?, headers: inout JOSEHeaderCache
    ) -> TokenVerificationOutcome {
        // 1. Form. The dots found with `memchr` (byte by byte, these three scans of a
        // ~700-byte token were ~2,900 instructions of every verification).
        let dot = UInt8(ascii: ".")
        guard let dot1 = utf8.offset(of: dot) else { return .rejected(.malformed) }
        let afterDot1 = dot1 + 1
        guard let dot2 = utf8.offset(of: dot, from: afterDot1) else { return .rejected(.malformed) }
        let afterDot2 = dot2 + 1
        if utf8.offset(of: dot, from: afterDot2) != nil { return .rejected(.malformed) }
        // The payload is decoded and parsed only once the signature holds: a forged token
        // costs no JSON parse (its claims are the attacker's anyway), and nothing
        // unauthenticated beyond the header is looked at.
        guard Base64URL.isWellFormed(utf8: utf8[afterDot1..<dot2]),
            let signature = Base64URL.decode(utf8: utf8[afterDot2...])
        else { return .rejected(.malformed) }

        // 1–3 for the header, or what they found for the same text before.
        let headerText = UnsafeBufferPointer(rebasing: utf8[utf8.startIndex..<dot1])
        let alg: JWTAlgorithm
        let kid: String?
        if let known = headers.lookup(headerText) {
            (alg, kid) = known
        } else {
            switch Self.readHeader(headerText) {
            case .failure(let reason):
                return .rejected(reason)
            case .success(let read):
                (alg, kid) = read
                headers.insert(headerText, alg: alg, kid: kid)
            }
        }

        // 4. Key look-up.
        guard let key = kid.flatMap({ keys.key(forKid: $0) }) ?? keys.keylessFallback else {
            return .unknownKid(kid)
        }
        guard key.allows(alg) else { return .rejected(.unsupportedAlg) }

        // 5. Signature over the exact ASCII bytes "header.payload" (in place, no copy).
        let signingInput = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[utf8.startIndex..<dot2]))
        guard key.isValidSignature(signature, for: signingInput, alg: alg) else { return .rejected(.badSignature) }

        // 6. Claim types.
        guard let payloadBytes = Base64URL.decode(utf8: utf8[afterDot1..<dot2]),
              let claims = (try? StrictJSON.parse(payloadBytes))?.objectValue else { return .rejected(.malformed) }
        guard let exp = claims["exp"]?.numberValue else { return .rejected(.malformed) }
        var nbf: Double?
        if let value = claims["nbf"] {
            guard let n = value.numberValue else { return .rejected(.malformed) }
            nbf = n
        }
        var iat: Double?
        if let value = claims["iat"] {
            guard let n = value.numberValue else { return .rejected(.malformed) }
            iat = n
        }
        // `sub` becomes a header value (`X-Gatehouse-User`) and a log field: no control
        // characters, so no signed token can split a header or forge a log line.
        guard let sub = claims["sub"]?.stringValue, !sub.isEmpty,
              !sub.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return .rejected(.malformed) }

        // 7. Claim values.
        if let reason = ClaimChecks.check(
            claims: claims, exp: exp, nbf: nbf, iat: iat, policy: policy, now: now, issuedNotBefore: issuedNotBefore)
        {
            return .rejected(reason)
        }
        return .verified(VerifiedToken(subject: sub, expiresAt: exp, issuedAt: iat, claims: claims))
    }

    /// Steps 1–3 for the header's text: decoded, a JSON object with a string `alg`
    /// (`malformed`), a known algorithm (`unsupported_alg`), no key or extension members
    /// and a string `kid` if any (`malformed`).
    static func readHeader(_ text: UnsafeBufferPointer<UInt8>) -> Result<(alg: JWTAlgorithm, kid: String?), TokenRejectionReason> {
        guard let headerBytes = Base64URL.decode(utf8: text[...]),
              let header = (try? StrictJSON.parse(headerBytes))?.objectValue,
              let algName = header["alg"]?.stringValue
        else { return .failure(.malformed) }

        // 2. Algorithm.
        guard let alg = JWTAlgorithm(rawValue: algName) else { return .failure(.unsupportedAlg) }

        // 3. Header-supplied keys and critical extensions are never trusted.
        for name in forbiddenHeaderMembers where header[name] != nil { return .failure(.malformed) }
        var kid: String?
        if let value = header["kid"] {
            guard let s = value.stringValue else { return .failure(.malformed) }
            kid = s
        }
        return .success((alg, kid))
    }

    /// Header members that name keys or extensions Gatehouse never honours.
    static let forbiddenHeaderMembers = ["jwk", "jku", "x5u", "x5c", "crit"]
}
