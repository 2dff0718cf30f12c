import GatehouseAuth
import NIOCore
import NIOHTTP1

/// Every response Gatehouse answers itself, and the one place that decides its status,
/// headers and JSON body (SPEC "The /_api gate" table, "Routing" limits).
public enum LocalResponse: Sendable, Equatable {
    case gate(GateRejection)
    case badRequest
    case notFound
    case methodNotAllowed(allow: String)
    case payloadTooLarge
    case headersTooLarge
    case requestTimeout
    case badGateway
    case gatewayTimeout
    /// The meter writer is backed up: nothing is forwarded that could not be billed.
    case meteringUnavailable
    /// An endpoint's own answer (dev issuer, JWKS).
    case json(HTTPResponseStatus, String, extraHeaders: [(String, String)] = [])
    /// A static asset (the browser SDK) with its own content type, `ETag` and caching;
    /// `headOnly` answers `HEAD`: the same headers, no body.
    case asset(LocalAsset, headOnly: Bool)
    /// `304 Not Modified` for a conditional request whose `If-None-Match` named the
    /// asset (RFC 9110 §15.4.5): `ETag` and `Cache-Control`, no body.
    case notModified(LocalAsset)

    public static func == (lhs: LocalResponse, rhs: LocalResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body
    }

    public var status: HTTPResponseStatus {
        switch self {
        case .gate(.unauthenticated): return .unauthorized
        case .gate(.forbidden): return .forbidden
        case .gate(.authUnavailable): return .serviceUnavailable
        case .gate(.rateLimited): return .tooManyRequests
        case .meteringUnavailable: return .serviceUnavailable
        case .badRequest: return .badRequest
        case .notFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .payloadTooLarge: return .payloadTooLarge
        case .headersTooLarge: return .requestHeaderFieldsTooLarge
        case .requestTimeout: return .requestTimeout
        case .badGateway: return .badGateway
        case .gatewayTimeout: return .gatewayTimeout
        case .json(let status, _, _): return status
        case .asset: return .ok
        case .notModified: return .notModified
        }
    }

    public var body: String {
        switch self {
        case .gate(.unauthenticated(let reason)):
            return Self.unauthenticatedBody(reason)
        case .gate(.forbidden): return #"{"error":"forbidden"}"#
        case .gate(.authUnavailable): return #"{"error":"auth_unavailable"}"#
        case .gate(.rateLimited(let retryAfter)): return #"{"error":"rate_limited","retry_after_s":\#(max(1, retryAfter))}"#
        case .meteringUnavailable: return #"{"error":"metering_unavailable"}"#
        case .badRequest: return #"{"error":"bad_request"}"#
        case .notFound: return #"{"error":"not_found"}"#
        case .methodNotAllowed: return #"{"error":"method_not_allowed"}"#
        case .payloadTooLarge: return #"{"error":"payload_too_large"}"#
        case .headersTooLarge: return #"{"error":"request_header_fields_too_large"}"#
        case .requestTimeout: return #"{"error":"request_timeout"}"#
        case .badGateway: return #"{"error":"bad_gateway"}"#
        case .gatewayTimeout: return #"{"error":"gateway_timeout"}"#
        case .json(_, let body, _): return body
        case .asset(let asset, let headOnly): return headOnly ? "" : asset.body
        case .notModified: return ""
        }
    }

    /// The 401 body per reason, as literals: interpolating it allocated a string on every
    /// rejected request (~1,400 instructions of a forged token's 401).
    static func unauthenticatedBody(_ reason: TokenRejectionReason) -> String {
        switch reason {
        case .missingToken: #"{"error":"unauthenticated","reason":"missing_token"}"#
        case .malformed: #"{"error":"unauthenticated","reason":"malformed"}"#
        case .badSignature: #"{"error":"unauthenticated","reason":"bad_signature"}"#
        case .unknownKid: #"{"error":"unauthenticated","reason":"unknown_kid"}"#
        case .expired: #"{"error":"unauthenticated","reason":"expired"}"#
        case .notYetValid: #"{"error":"unauthenticated","reason":"not_yet_valid"}"#
        case .badIssuer: #"{"error":"unauthenticated","reason":"bad_issuer"}"#
        case .badAudience: #"{"error":"unauthenticated","reason":"bad_audience"}"#
        case .unauthorizedParty: #"{"error":"unauthenticated","reason":"unauthorized_party"}"#
        case .unsupportedAlg: #"{"error":"unauthenticated","reason":"unsupported_alg"}"#
        case .unknownKey: #"{"error":"unauthenticated","reason":"unknown_key"}"#
        }
    }

    /// A response that is always the same bytes, built once: its head and its body, and
    /// both as they go on the wire (``ClientResponseEncoder/writePrebuilt(_:context:)``).
    /// A class: handing one out is one retain, not one per buffer and head.
    final class Prebuilt: Sendable {
        let head: HTTPResponseHead
        let body: ByteBuffer
        /// The serialized head and the body: what the encoder writes for `head` then `body`.
        let wire: ByteBuffer
        /// The serialized head alone: the answer to a `HEAD` request.
        let wireHead: ByteBuffer

        init(head: HTTPResponseHead, body: ByteBuffer) {
            self.head = head
            self.body = body
            var wireHead = ByteBuffer()
            HTTPHeadSerializer.write(head, into: &wireHead)
            var wire = wireHead
            var bodyBytes = body
            wire.writeBuffer(&bodyBytes)
            self.wire = wire
            self.wireHead = wireHead
        }
    }

    /// The gate's 401s, per reason and for a connection kept alive or closing, built once:
    /// every rejected request (each forged token) built an `HTTPHeaders`, a head and a body
    /// buffer, and freed them again (~2,000 instructions of its answer).
    func prebuilt(keepAlive: Bool) -> Prebuilt? {
        guard case .gate(.unauthenticated(let reason)) = self else { return nil }
        // One entry read out, not a pair copied and half of it released.
        return Self.unauthenticated[reason.ordinal * 2 + (keepAlive ? 0 : 1)]
    }

    /// Per reason, kept alive then closing.
    private static let unauthenticated: [Prebuilt] = TokenRejectionReason.allCases.flatMap { [build($0, true), build($0, false)] }

    private static func build(_ reason: TokenRejectionReason, _ keepAlive: Bool) -> Prebuilt {
        let response = LocalResponse.gate(.unauthenticated(reason))
        return Prebuilt(
            head: HTTPResponseHead(version: .http1_1, status: response.status, headers: response.headers(keepAlive: keepAlive)),
            body: ByteBuffer(string: response.body))
    }

    /// Whether the connection must close after this answer regardless of keep-alive
    /// (SPEC: 400, 408, 413 and 431 each close the connection).
    public var closesConnection: Bool {
        switch self {
        case .badRequest, .payloadTooLarge, .headersTooLarge, .requestTimeout: return true
        default: return false
        }
    }

    public func headers(keepAlive: Bool) -> HTTPHeaders {
        headers(keepAlive: keepAlive, bodyByteCount: body.utf8.count)
    }

    /// As ``headers(keepAlive:)`` for a caller that has the body already (building it
    /// is an interpolation).
    func headers(keepAlive: Bool, bodyByteCount: Int) -> HTTPHeaders {
        // Fields gathered as a plain array and made into `HTTPHeaders` once: `add` checks
        // each name for non-ASCII through a generic byte walk, ~450 instructions a field
        // (1% of a forged token's 401). The names here are literals.
        var fields: [(String, String)] = []
        fields.reserveCapacity(6)
        fields.append(("Content-Type", "application/json"))
        fields.append(("Content-Length", String(bodyByteCount)))
        fields.append(("Cache-Control", "no-store"))
        switch self {
        case .gate(.unauthenticated(.missingToken)):
            fields.append(("WWW-Authenticate", #"Bearer realm="gatehouse""#))
        case .gate(.unauthenticated):
            fields.append(("WWW-Authenticate", #"Bearer realm="gatehouse", error="invalid_token""#))
        case .gate(.authUnavailable(let retryAfter)), .gate(.rateLimited(let retryAfter)):
            fields.append(("Retry-After", String(max(1, retryAfter))))
        case .meteringUnavailable:
            fields.append(("Retry-After", "1"))
        case .methodNotAllowed(let allow):
            fields.append(("Allow", allow))
        default:
            break
        }
        var headers = HTTPHeaders(fields)
        switch self {
        case .json(_, _, let extra):
            for (name, value) in extra { headers.replaceOrAdd(name: name, value: value) }
        case .asset(let asset, _):
            headers.replaceOrAdd(name: "Content-Type", value: asset.contentType)
            headers.replaceOrAdd(name: "Content-Length", value: String(asset.byteCount))
            headers.replaceOrAdd(name: "Cache-Control", value: asset.cacheControl)
            headers.add(name: "ETag", value: asset.etag)
        case .notModified(let asset):
            // A 304 carries no representation metadata beyond what refreshes a cache.
            headers.remove(name: "Content-Type")
            headers.remove(name: "Content-Length")
            headers.replaceOrAdd(name: "Cache-Control", value: asset.cacheControl)
            headers.add(name: "ETag", value: asset.etag)
        default:
            break
        }
        if !keepAlive || closesConnection { headers.add(name: "Connection", value: "close") }
        return headers
    }
}
