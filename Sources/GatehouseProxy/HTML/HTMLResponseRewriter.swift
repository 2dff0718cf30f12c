import GatehouseCore
import NIOCore
import NIOHTTP1

/// Injects the SDK snippet into one app-upstream HTML response (SPEC "HTML injection"):
/// decides from the response head whether it applies, then runs the body through zlib
/// (for `gzip`/`deflate`), ``HTMLInjectionStateMachine`` and an encoder again
/// (``PageDeflater``).
///
/// The response head is withheld until the state machine decides, because the decision
/// changes it: injected, it gets a corrected `Content-Length` (or none, and is sent
/// chunked, when the re-encoded length is not known up front), a weak `ETag` (the bytes
/// differ from the upstream's), no `Accept-Ranges`, a fresh nonce in a script-limiting
/// `Content-Security-Policy`, and the mark `X-Gatehouse-Injected: 1` (so a Gatehouse in
/// front of this one leaves it alone, see ``HTMLInjectionDecision``); left alone, it goes out exactly as the upstream sent it,
/// and so do the upstream's (still compressed) body bytes. Before the decision at most
/// 64 KiB of decoded body plus a chunk, and the compressed bytes they came from, are held;
/// after it every chunk is passed (or re-encoded) as it comes.
///
/// A zip bomb is bounded twice: before the decision by the 64 KiB the state machine
/// looks at (the body is then passed on compressed, untouched); after it by a ratio limit,
/// since inflating is then paid for in CPU only. Runs on the connection's event loop.
@_spi(Benchmarks) public final class HTMLResponseRewriter {
    /// Decoded bytes handed on at a time.
    static let pieceSize = 16 * 1024
    /// An injected body may inflate to `maxInflationRatio` times its compressed size,
    /// beyond the first `inflationAllowance` bytes; gzip peaks near 1032:1, real HTML
    /// stays far below 100:1.
    static let maxInflationRatio = 500
    static let inflationAllowance = 8 << 20

    /// What to write to the client after an event, in this order.
    public struct Output {
        /// The response head, once it is decided.
        public var head: HTTPResponseHead?
        public var body: ByteBuffer?
        /// More body right after ``body``, as a part of its own: the upstream's bytes after
        /// the injection point, passed on as the slice they are rather than copied behind
        /// the snippet (a 20 KB page was copied whole, in several growing steps).
        public var rest: ByteBuffer?
    }

    private enum State {
        /// Waiting for the response head.
        case idle
        /// Head withheld; the state machine is still looking.
        case deciding(HTTPResponseHead)
        /// Injected: identity bodies pass through, compressed ones are re-encoded.
        case injecting
        /// The whole compressed body was re-encoded at once (its length was known).
        case finished
        /// Left unchanged (or never engaged): bytes pass through.
        case passing
    }

    /// Whether responses to this request may be injected (the app route's `GET`s with
    /// `inject.enabled`); only those have their `Accept-Encoding` narrowed.
    static func mayInject(method: HTTPMethod, inject: InjectConfiguration) -> Bool {
        method.isGET && inject.enabled
    }

    /// Keeps only the codings the injector can decode in `Accept-Encoding` (RFC 9110
    /// §12.5.3), with their weights: `br, gzip` becomes `gzip`; nothing left, `identity`.
    /// Without the field, the upstream may send anything, and what cannot be decoded
    /// passes through unchanged.
    ///
    /// Per `Accept-Encoding` field, in ``UpstreamRequestBuilder``'s pass: the codings of
    /// `value` it keeps (trimmed, weights and all) appended to `kept`, joined by `", "`;
    /// the field written is `kept`, or `identity` when it is empty.
    ///
    /// Over the value's bytes, twice (count, then copy into the one string built): every
    /// browser page request carries `gzip, deflate, br, zstd`, and splitting it into
    /// `Substring`s, each split again, trimmed and lowercased, was ~22,000 instructions,
    /// a sixth of such a page's. A coding is the first non-empty run between `;` bytes
    /// (as `split` found it), trimmed, compared up to ASCII case (no other character
    /// lowercases or normalises to these names' letters).
    static func appendAcceptedCodings(of value: String, to kept: inout String) {
        let accepted = value.withUTF8Bytes { bytes in
            bytes.joined(separator: UInt8(ascii: ",")) { forEachAcceptedCoding(in: bytes, $0) }
        }
        if accepted.isEmpty { return }
        if kept.isEmpty { kept = accepted } else { kept += ", " + accepted }
    }

    /// The byte range of each entry of an `Accept-Encoding` value (between `,`, trimmed)
    /// whose coding the injector decodes.
    @inline(__always)
    private static func forEachAcceptedCoding(in bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        bytes.forEachPiece(separatedBy: UInt8(ascii: ",")) { piece in
            let entry = bytes.trimmingOWS(piece)
            var codingStart = entry.lowerBound
            while codingStart < entry.upperBound, bytes[codingStart] == UInt8(ascii: ";") { codingStart += 1 }
            var codingEnd = codingStart
            while codingEnd < entry.upperBound, bytes[codingEnd] != UInt8(ascii: ";") { codingEnd += 1 }
            let coding = bytes.trimmingOWS(codingStart..<codingEnd)
            if bytes.equalsIgnoringASCIICase(coding, "gzip") || bytes.equalsIgnoringASCIICase(coding, "x-gzip")
                || bytes.equalsIgnoringASCIICase(coding, "deflate") || bytes.equalsIgnoringASCIICase(coding, "identity") {
                body(entry)
            }
        }
    }

    private let snippet: InjectionSnippet
    private let nonces: RandomBytePool?
    private var state = State.idle
    private var machine: HTMLInjectionStateMachine
    private let searchLimit: Int
    private var coding: HTTPContentCoding?
    private var inflater: ZlibInflater?
    private var deflater: PageDeflater?
    /// Compressed bytes received before the decision, sent as they are if it says so.
    private var rawHeld = ByteBuffer()
    private var scratch = ByteBuffer()
    private var expectedLength: Int?
    private var received = 0
    private var inflated = 0

    /// With the state machine's default search limit (64 KiB).
    public convenience init(app: AppConfiguration) {
        self.init(snippet: InjectionSnippet(app: app))
    }

    convenience init(app: AppConfiguration, searchLimit: Int) {
        self.init(snippet: InjectionSnippet(app: app), searchLimit: searchLimit)
    }

    /// - Parameter snippet: the app's snippet, built once per app (``AppRuntime``). Not the
    ///   app's configuration: a copy of that struct, and its release with the rewriter,
    ///   were ~2,500 instructions of every injected page.
    /// - Parameter nonces: where a policy's nonce comes from: the loop's pool, shared by
    ///   its pages. Without one (tests, benchmarks), a page that needs a nonce draws from a
    ///   pool of its own (one system call), and one that does not allocates none.
    init(
        snippet: InjectionSnippet, searchLimit: Int = HTMLInjectionStateMachine.defaultSearchLimit,
        nonces: RandomBytePool? = nil
    ) {
        self.snippet = snippet
        self.searchLimit = searchLimit
        self.machine = HTMLInjectionStateMachine(searchLimit: searchLimit)
        self.nonces = nonces
    }

    /// The head the client would get. Returns `true` when the response is injectable and
    /// the rewriter takes it over (the head then comes back in a later ``Output``);
    /// `false` when it passes unchanged (``HTMLInjectionDecision``): not `200`, not
    /// `text/html`, a range, an encoding that cannot be decoded, or already injected by a
    /// Gatehouse behind this one.
    public func responseHead(_ head: HTTPResponseHead) -> Bool {
        let fields = HTMLResponseFields(head.headers)
        let decision = HTMLInjectionDecision(head, fields: fields)
        // An interim response (`103 Early Hints`) is not the one that counts.
        if decision == .pass(.interim) { return false }
        guard case .idle = state, case .rewrite(let coding) = decision else {
            state = .passing
            return false
        }
        self.coding = coding
        if coding != nil { inflater = ZlibInflater() }
        expectedLength = fields.contentLength
        state = .deciding(head)
        return true
    }

    /// A chunk of the upstream's body (still encoded).
    public func bodyReceived(_ buffer: ByteBuffer) throws -> Output {
        received += buffer.readableBytes
        switch state {
        case .idle, .passing:
            return Output(body: buffer)
        case .finished:
            return Output()
        case .injecting:
            guard coding != nil else { return Output(body: buffer) }
            var input = buffer
            var out = ByteBuffer()
            try reencode(&input, into: &out, flush: .sync)
            return Output(body: out)
        case .deciding(let head):
            guard coding != nil else { return identityAction(machine.bodyReceived(buffer), head: head) }
            var input = buffer
            rawHeld.writeImmutableBuffer(input)
            while true {
                scratch.clear()
                let progress: ZlibInflater.Progress
                do {
                    progress = try inflate(&input)
                } catch {
                    return leaveCompressed(head)
                }
                let action = machine.bodyReceived(scratch)
                if action != .wait { return try compressedAction(action, head: head, rest: &input, ended: false) }
                if progress != .outputFull { break }
            }
            // Nothing inflates out of a long gzip header (or such): not worth holding.
            if rawHeld.readableBytes > 2 * searchLimit { return leaveCompressed(head) }
            return Output()
        }
    }

    /// The upstream's body ended.
    public func bodyEnded() throws -> Output {
        switch state {
        case .idle, .passing, .finished:
            return Output()
        case .injecting:
            guard coding != nil else { return Output() }
            var input = ByteBuffer()
            var out = ByteBuffer()
            try reencode(&input, into: &out, flush: .finish)
            return Output(body: out)
        case .deciding(let head):
            guard coding != nil else { return identityAction(machine.bodyEnded(), head: head) }
            var nothing = ByteBuffer()
            return try compressedAction(machine.bodyEnded(), head: head, rest: &nothing, ended: true)
        }
    }

    // MARK: - Decisions

    private func identityAction(_ action: HTMLInjectionStateMachine.Action, head: HTTPResponseHead) -> Output {
        switch action {
        case .wait:
            return Output()
        case .write(let bytes):
            return Output(body: bytes)
        case .leaveUnchanged(let bytes):
            state = .passing
            return Output(head: head, body: bytes)
        case .inject(var before, let after):
            state = .injecting
            let (newHead, tags) = injectedHead(head, originalLength: expectedLength)
            // Only the part up to `<head>` is copied (with the tags appended).
            before.writeString(tags)
            return Output(head: newHead, body: before, rest: after)
        }
    }

    private func compressedAction(_ action: HTMLInjectionStateMachine.Action, head: HTTPResponseHead, rest: inout ByteBuffer, ended: Bool) throws -> Output {
        switch action {
        case .wait, .write:
            return Output()
        case .leaveUnchanged:
            return leaveCompressed(head)
        case .inject(let before, let after):
            guard let coding else { return leaveCompressed(head) }
            let deflater = PageDeflater(coding)
            self.deflater = deflater
            rawHeld = ByteBuffer()
            // The whole body is here: encode it all and say how long it is.
            let whole = ended || (expectedLength == received)
            var out = ByteBuffer()
            try deflater.deflate(before, flush: .none, into: &out)
            let (newHead, tags) = injectedHead(head, originalLength: nil)
            var snippet = ByteBuffer()
            snippet.writeString(tags)
            try deflater.deflate(snippet, flush: .none, into: &out)
            try deflater.deflate(after, flush: .none, into: &out)
            try reencode(&rest, into: &out, flush: whole ? .finish : .sync)
            guard whole else {
                state = .injecting
                return Output(head: newHead, body: out)
            }
            state = .finished
            var exact = newHead
            exact.headers.replaceOrAdd(name: "Content-Length", value: String(out.readableBytes))
            exact.headers.remove(name: "transfer-encoding")
            return Output(head: exact, body: out)
        }
    }

    /// Undecided or undecodable: the upstream's head and compressed bytes go out as they came.
    private func leaveCompressed(_ head: HTTPResponseHead) -> Output {
        state = .passing
        inflater = nil
        let bytes = rawHeld
        rawHeld = ByteBuffer()
        return Output(head: head, body: bytes)
    }

    /// The head of an injected response, and the tags to insert (with the CSP's nonce).
    /// `originalLength`: the upstream body's length when it is only lengthened by the tags;
    /// otherwise the response goes chunked.
    /// The page's head as injected: `Content-Length` grown by the tags (or chunked when
    /// unknown), a strong `ETag` made weak, `Accept-Ranges` and `Content-MD5` dropped (they
    /// describe other bytes), a CSP nonce added where a policy needs one, and the marker
    /// set. One pass over the upstream's fields copies the rest; each `remove` and
    /// `replaceOrAdd` was a scan of its own (nine per page).
    private func injectedHead(_ head: HTTPResponseHead, originalLength: Int?) -> (HTTPResponseHead, String) {
        var fields: [(String, String)] = []
        fields.reserveCapacity(head.headers.count + 3)
        var etag: String?
        var policies = false
        for (name, value) in head.headers {
            switch name.utf8.count {
            case 4 where name.caseInsensitiveEquals("etag"):
                if etag == nil { etag = value }
                continue
            case 11 where name.caseInsensitiveEquals("content-md5"),
                 13 where name.caseInsensitiveEquals("accept-ranges"),
                 14 where name.caseInsensitiveEquals("content-length"),
                 17 where name.caseInsensitiveEquals("transfer-encoding"):
                continue
            default:
                if name.caseInsensitiveEquals(Self.markerFieldLowercased) { continue }
                if Self.isPolicy(name) { policies = true }
            }
            fields.append((name, value))
        }
        var nonce: String?
        if policies {
            // One nonce for every policy that needs one (each directive list lets the tags run).
            let candidate = ContentSecurityPolicyNonce.make(from: nonces ?? RandomBytePool())
            for index in fields.indices where Self.isPolicy(fields[index].0) {
                if let rewritten = ContentSecurityPolicyNonce.adding(candidate, to: fields[index].1) {
                    fields[index].1 = rewritten
                    nonce = candidate
                }
            }
        }
        let tags = snippet.tags(nonce: nonce)
        if let originalLength {
            fields.append(("Content-Length", String(originalLength + tags.utf8.count)))
        } else {
            fields.append(("Transfer-Encoding", "chunked"))
        }
        if let etag { fields.append(("ETag", etag.hasPrefix("W/") ? etag : "W/" + etag)) }
        // So that a Gatehouse in front of this one passes the page on untouched.
        fields.append((HTMLInjectionDecision.markerField, "1"))
        return (HTTPResponseHead(version: head.version, status: head.status, headers: HTTPHeaders(fields)), tags)
    }

    private static let markerFieldLowercased = HTMLInjectionDecision.markerField.lowercased()

    private static func isPolicy(_ name: String) -> Bool {
        name.caseInsensitiveEquals("content-security-policy") || name.caseInsensitiveEquals("content-security-policy-report-only")
    }

    // MARK: - Decoding and encoding

    /// Inflates one piece of `input` into `scratch`, minding the ratio limit.
    private func inflate(_ input: inout ByteBuffer) throws -> ZlibInflater.Progress {
        guard let inflater else { throw HTMLRewriteError.corruptBody }
        let before = scratch.readableBytes
        let progress = try inflater.inflate(&input, into: &scratch, limit: Self.pieceSize)
        inflated += scratch.readableBytes - before
        if inflated > Self.inflationAllowance && inflated / max(received, 1) > Self.maxInflationRatio {
            throw HTMLRewriteError.inflationLimit
        }
        return progress
    }

    /// Inflates all of `input` piece by piece and deflates each piece into `out`.
    private func reencode(_ input: inout ByteBuffer, into out: inout ByteBuffer, flush: PageDeflater.Flush) throws {
        guard let deflater else { throw HTMLRewriteError.corruptBody }
        while true {
            scratch.clear()
            let progress = try inflate(&input)
            try deflater.deflate(scratch, flush: .none, into: &out)
            if progress != .outputFull { break }
        }
        try deflater.deflate(ByteBuffer(), flush: flush, into: &out)
    }
}
