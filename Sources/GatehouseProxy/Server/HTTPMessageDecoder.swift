//===----------------------------------------------------------------------===//
//
// Adapted from SwiftNIO's `HTTPDecoder` and `BetterHTTPParser` (Sources/NIOHTTP1/HTTPDecoder.swift,
// swift-nio 2.101.3, revision cb5a7340e5f89ca4e8a44687d1979ace078be128).
// Copyright (c) 2017-2022 Apple Inc. and the SwiftNIO project authors.
// Licensed under Apache License v2.0 (https://www.apache.org/licenses/LICENSE-2.0).
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOHTTP1
// llhttp as NIO builds and ships it (NIO's own decoder runs on it); a module of swift-nio's
// that is not one of its products, so it is reached as NIOHTTP1's dependency. Its version
// moves with swift-nio's, and so must this file (the differential tests run both decoders).
private import CNIOLLHTTP

/// NIO's HTTP/1 decoder — llhttp and the callbacks around it — with its parts handed to the
/// next handler by a direct call.
///
/// Why a copy: NIO's `HTTPDecoder` is generic and compiled in NIOHTTP1, so every part it
/// decodes is wrapped in an `NIOAny`, sent through the pipeline and cast back by the next
/// handler (~550 instructions a part, five parts per `/_api` exchange), its parser reaches
/// the decoder through an existential delegate, copies llhttp's state in and out on every
/// read, and the response side keeps each whole request head to learn its method. Here the
/// decoder is one concrete class: the parser's callbacks are its own methods, llhttp's state
/// stays at one address, and each part goes to the receiver the pipeline's wiring gave it
/// (``RequestSequencer``, ``UpstreamHandler``) — through the pipeline when there is none, or
/// when it has left (a tunnel took over). The parsing rules are NIO's, line for line: the
/// same llhttp, the same callbacks, the same limits and errors, the same handling of
/// upgrades, `HEAD`/`CONNECT`/1xx/204/304 responses and leftovers (`DecodingHandlerTests`
/// runs both on the same bytes). What differs: a response head comes with llhttp's
/// keep-alive verdict beside it, since a decoder outside NIOHTTP1 cannot store it in
/// `HTTPHeaders` (its initialiser for that is internal): a response delimited by the
/// connection's close is not keep-alive, whatever its `Connection` field says. A request
/// head comes without one: ``ProxyHandler`` reads it from the inspection's walk over the
/// fields (``RequestHeadValidator/Inspection/keepsAlive(_:)``), which for a request is
/// llhttp's verdict (a request is never delimited by a close), where the head's own
/// `isKeepAlive` would walk them again. Keep it in step with NIO's when the dependency
/// moves.
final class HTTPMessageDecoder: WriteObservingByteToMessageDecoder {
    /// The parts are ``RequestPart`` or ``ResponsePart`` by ``Kind``, typed by the handler
    /// that owns the decoder; the decoder never wraps them through this type.
    typealias InboundOut = Never
    /// The requests written on an upstream connection (the response decoder learns their
    /// methods); a request decoder sees none.
    typealias OutboundIn = HTTPClientRequestPart
    typealias RequestPart = HTTPServerRequestPart
    typealias ResponsePart = HTTPClientResponsePart

    enum Kind {
        case request
        case response
    }

    private enum ParsingState {
        case beforeMessageBegin
        case afterMessageBegin
        case url
        case headerName
        case headerValue
        case trailerName
        case trailerValue
        case headersComplete
    }

    private enum MessageContinuation {
        case normal
        case skipBody
        case error(llhttp_errno_t)
    }

    // MARK: State (the parser's, then the decoder's)

    let kind: Kind
    private let maximumHeaderFieldSize: Int
    private let maximumTotalHeadersSize: Int
    private let maximumHeaderFieldCount: Int
    /// llhttp's state, at one address for the decoder's life (NIO's copies it out and back
    /// around every read to take its address).
    private let parser: UnsafeMutablePointer<llhttp_t>
    private let settings: UnsafeMutablePointer<llhttp_settings_t>
    private var decodingState: ParsingState = .beforeMessageBegin
    private var firstNonDiscardableOffset: Int? = nil
    private var currentFieldByteLength = 0
    private var totalHeadersByteLength = 0
    private var headerFieldCount = 0
    private var httpParserOffset = 0
    private var rawBytesView: UnsafeRawBufferPointer = .init(start: nil, count: 0)
    private var httpErrno: llhttp_errno_t? = nil
    private var richerError: Error? = nil
    /// The methods of the requests written and not yet answered (a response to `HEAD` or
    /// `CONNECT` has no body whatever its fields say). NIO keeps the whole heads. Changed
    /// only moved out (`take()`) and back, so that no access to it spans a call into the
    /// buffer's growth: every access to it was checked at run time otherwise
    /// (`swift_beginAccess`; `Benchmarks/README.md`, twenty-first round).
    private var requestMethods: CircularBuffer<HTTPMethod>? = CircularBuffer(initialCapacity: 1)

    // things we build incrementally
    /// The head's URL, names and values, reusing the last head's `String`s where the bytes
    /// repeat (``DecodedFields``).
    private let fields: DecodedFields
    /// The last response head's hop-by-hop scan, handed on beside it.
    private var headScan: HeaderHygiene.HopByHopScan?
    /// Changed only moved out and back, as ``requestMethods``.
    private var trailers: [(String, String)]? = nil
    private var isUpgrade: Bool? = nil
    /// llhttp's keep-alive verdict on the message being decoded.
    private var keepAlive = false

    // temporary, set and unset by `feedInput`
    private var buffer: ByteBuffer? = nil
    private var context: ChannelHandlerContext? = nil

    private let leftOverBytesStrategy: RemoveAfterUpgradeStrategy
    private let informationalResponseStrategy: NIOInformationalResponseStrategy
    private var stopParsing = false  // set on upgrade or HTTP version error
    private var lastResponseHeaderWasInformational = false

    /// Takes a request decoder's parts by a direct call (set by whoever wires the pipeline;
    /// cleared when the decoder leaves it, which also ends the reference).
    var requestReceiver: (any DecodedRequestReceiver)?
    /// Takes a response decoder's parts by a direct call (as ``requestReceiver``).
    var responseReceiver: (any DecodedResponseReceiver)?

    /// Runs `body` on the decoder a callback's parser belongs to. llhttp hands back the
    /// parser it was given, whose `data` is the decoder (set at init, unretained: the parser
    /// is the decoder's and is only run from inside the decoder's own `feedParser`, which
    /// holds it), so the decoder is not retained and released around every callback (~30
    /// per `/_api` exchange).
    @inline(__always)
    private static func with<Result>(_ opaque: UnsafePointer<llhttp_t>?, _ body: (HTTPMessageDecoder) -> Result) -> Result {
        guard let data = opaque?.pointee.data else { preconditionFailure("llhttp called back without its parser") }
        return Unmanaged<HTTPMessageDecoder>.fromOpaque(data)._withUnsafeGuaranteedRef(body)
    }

    init(
        _ kind: Kind,
        leftOverBytesStrategy: RemoveAfterUpgradeStrategy = .dropBytes,
        informationalResponseStrategy: NIOInformationalResponseStrategy = .drop,
        limitConfiguration: NIOHTTPDecoderLimitConfiguration = .init()
    ) {
        self.kind = kind
        self.maximumHeaderFieldSize = limitConfiguration.maxHeaderFieldSize
        self.maximumTotalHeadersSize = limitConfiguration.maxHeaderListSize
        self.maximumHeaderFieldCount = limitConfiguration.maxHeaderFieldCount
        self.leftOverBytesStrategy = leftOverBytesStrategy
        self.informationalResponseStrategy = informationalResponseStrategy
        self.fields = DecodedFields(scanningHopByHop: kind == .response)
        self.parser = UnsafeMutablePointer.allocate(capacity: 1)
        self.parser.initialize(to: llhttp_t())
        self.settings = UnsafeMutablePointer.allocate(capacity: 1)
        c_nio_llhttp_settings_init(self.settings)
        self.settings.pointee.on_body = { opaque, bytes, len in
            HTTPMessageDecoder.with(opaque) { $0.didReceiveBodyData(UnsafeRawBufferPointer(start: bytes, count: len)) }
            return 0
        }
        self.settings.pointee.on_header_field = { opaque, bytes, len in
            HTTPMessageDecoder.with(opaque) { $0.didReceiveHeaderFieldData(UnsafeRawBufferPointer(start: bytes, count: len)) }
        }
        self.settings.pointee.on_header_value = { opaque, bytes, len in
            HTTPMessageDecoder.with(opaque) { $0.didReceiveHeaderValueData(UnsafeRawBufferPointer(start: bytes, count: len)) }
        }
        self.settings.pointee.on_url = { opaque, bytes, len in
            HTTPMessageDecoder.with(opaque) { $0.didReceiveURLData(UnsafeRawBufferPointer(start: bytes, count: len)) }
        }
        self.settings.pointee.on_message_begin = { opaque in
            HTTPMessageDecoder.with(opaque) { $0.didReceiveMessageBeginNotification() }
            return 0
        }
        self.settings.pointee.on_headers_complete = { opaque in
            guard let opaque else { return -1 }
            return HTTPMessageDecoder.with(opaque) { decoder in
                switch decoder.didReceiveHeadersCompleteNotification(
                    versionMajor: Int(opaque.pointee.http_major),
                    versionMinor: Int(opaque.pointee.http_minor),
                    statusCode: Int(opaque.pointee.status_code),
                    isUpgrade: opaque.pointee.upgrade != 0,
                    method: llhttp_method(rawValue: numericCast(opaque.pointee.method)),
                    // A `close` option ends the connection whatever else the message says
                    // (RFC 9112 §9.6); llhttp lets an HTTP/1.0 message's `keep-alive`
                    // outweigh one beside it, and a pool would then reuse a connection its
                    // upstream is closing.
                    keepAlive: c_nio_llhttp_should_keep_alive(opaque) != 0
                        && opaque.pointee.flags & UInt16(F_CONNECTION_CLOSE.rawValue) == 0
                ) {
                case .normal:
                    return 0
                case .skipBody:
                    return 1
                case .error(let err):
                    decoder.httpErrno = err
                    return -1  // error
                }
            }
        }
        self.settings.pointee.on_message_complete = { opaque in
            HTTPMessageDecoder.with(opaque) { $0.didReceiveMessageCompleteNotification() }
            // Temporary workaround for https://github.com/nodejs/llhttp/issues/202, as NIO's
            // (https://github.com/apple/swift-nio/issues/2274).
            opaque?.pointee.content_length = 0
            return 0
        }
        // NIO's on_status, on_chunk_header and on_chunk_complete do nothing: left unset.
        switch kind {
        case .request:
            c_nio_llhttp_init(self.parser, HTTP_REQUEST, self.settings)
        case .response:
            c_nio_llhttp_init(self.parser, HTTP_RESPONSE, self.settings)
        }
        self.parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        self.parser.deinitialize(count: 1)
        self.parser.deallocate()
        self.settings.deallocate()
    }

    // MARK: - The parser's callbacks (NIO's `BetterHTTPParser`)

    private func start(bytes: UnsafeRawBufferPointer, newState: ParsingState) {
        assert(self.firstNonDiscardableOffset == nil)
        // llhttp calls back only from inside `feedParser`, with bytes of `rawBytesView`.
        guard let base = bytes.baseAddress, let viewBase = self.rawBytesView.baseAddress else {
            preconditionFailure("llhttp called back outside a read")
        }
        self.firstNonDiscardableOffset = base - viewBase
        self.decodingState = newState
    }

    /// The bytes of the field (or URL) that just ended, which may have come in several
    /// callbacks and reads.
    private func finish() -> UnsafeRawBufferPointer {
        var currentFieldByteLength = 0
        swap(&currentFieldByteLength, &self.currentFieldByteLength)
        guard let firstNonDiscardableOffset = self.firstNonDiscardableOffset else {
            preconditionFailure("a field ended that never started")
        }
        let start = self.rawBytesView.startIndex + firstNonDiscardableOffset
        let end = start + currentFieldByteLength
        self.firstNonDiscardableOffset = nil
        precondition(start >= self.rawBytesView.startIndex && end <= self.rawBytesView.endIndex)
        return .init(rebasing: self.rawBytesView[start..<end])
    }

    private func didReceiveHeaderFieldData(_ bytes: UnsafeRawBufferPointer) -> CInt {
        var isNewField = false
        switch self.decodingState {
        case .headerName, .trailerName:
            ()
        case .headerValue:
            self.didReceiveHeaderValue(self.finish())
            self.start(bytes: bytes, newState: .headerName)
            isNewField = true
        case .trailerValue:
            self.didReceiveTrailerValue(self.finish())
            self.start(bytes: bytes, newState: .trailerName)
            isNewField = true
        case .url:
            self.didReceiveURL(self.finish())
            self.start(bytes: bytes, newState: .headerName)
            isNewField = true
        case .headersComplete:
            // these are trailers
            self.start(bytes: bytes, newState: .trailerName)
            isNewField = true
        case .afterMessageBegin:
            // in case we're parsing responses
            self.start(bytes: bytes, newState: .headerName)
            isNewField = true
        case .beforeMessageBegin:
            preconditionFailure()
        }
        if isNewField {
            self.headerFieldCount += 1
            if self.headerFieldCount > self.maximumHeaderFieldCount {
                self.richerError = HTTPParserError.headerOverflow
                return -1
            }
        }
        return self.validateHeaderLength(bytes.count)
    }

    private func didReceiveHeaderValueData(_ bytes: UnsafeRawBufferPointer) -> CInt {
        do {
            switch self.decodingState {
            case .headerValue, .trailerValue:
                ()
            case .headerName:
                try self.didReceiveFieldName(self.finish(), inHead: true)
                self.start(bytes: bytes, newState: .headerValue)
            case .trailerName:
                try self.didReceiveFieldName(self.finish(), inHead: false)
                self.start(bytes: bytes, newState: .trailerValue)
            case .beforeMessageBegin, .afterMessageBegin, .headersComplete, .url:
                preconditionFailure()
            }
            return self.validateHeaderLength(bytes.count)
        } catch {
            self.richerError = error
            return -1
        }
    }

    private func didReceiveURLData(_ bytes: UnsafeRawBufferPointer) -> CInt {
        switch self.decodingState {
        case .url:
            ()
        case .afterMessageBegin:
            self.start(bytes: bytes, newState: .url)
        case .beforeMessageBegin, .headersComplete, .headerName, .headerValue, .trailerName, .trailerValue:
            preconditionFailure()
        }
        return self.validateHeaderLength(bytes.count)
    }

    private func didReceiveMessageBeginNotification() {
        switch self.decodingState {
        case .beforeMessageBegin:
            self.totalHeadersByteLength = 0
            self.headerFieldCount = 0
            self.decodingState = .afterMessageBegin
        case .headersComplete, .headerName, .headerValue, .trailerName, .trailerValue, .afterMessageBegin, .url:
            preconditionFailure()
        }
    }

    private func didReceiveMessageCompleteNotification() {
        switch self.decodingState {
        case .headersComplete:
            ()
        case .trailerValue:
            self.didReceiveTrailerValue(self.finish())
        case .beforeMessageBegin, .headerName, .headerValue, .trailerName, .afterMessageBegin, .url:
            preconditionFailure()
        }
        self.decodingState = .beforeMessageBegin
        self.didFinishMessage()
    }

    private func didReceiveHeadersCompleteNotification(
        versionMajor: Int,
        versionMinor: Int,
        statusCode: Int,
        isUpgrade: Bool,
        method: llhttp_method,
        keepAlive: Bool
    ) -> MessageContinuation {
        switch self.decodingState {
        case .headerValue:
            self.didReceiveHeaderValue(self.finish())
        case .url:
            self.didReceiveURL(self.finish())
        case .afterMessageBegin:
            // we're okay here for responses (as they don't have URLs) but for requests we must have seen a URL/headers
            precondition(self.kind == .response)
        case .beforeMessageBegin, .headersComplete, .headerName, .trailerName, .trailerValue:
            preconditionFailure()
        }
        assert(self.firstNonDiscardableOffset == nil)
        self.decodingState = .headersComplete

        var skipBody = false

        if self.kind == .response {
            // llhttp does not know which request a response answers: a response to HEAD or
            // CONNECT has no body whatever its fields say (RFC 9110 §9.3.2, §9.3.6), and
            // neither has a 1xx, 204 or 304 one, which llhttp only honours when the response
            // has no length fields (NIO's comment gives the history).
            // Moved out and back around the calls that change it (see the property).
            guard var requestMethods = self.requestMethods.take() else {
                preconditionFailure("decoder request methods re-entered")
            }
            if requestMethods.isEmpty {
                self.requestMethods = consume requestMethods
                self.richerError = NIOHTTPDecoderError.unsolicitedResponse
                return .error(HPE_INTERNAL)
            }

            if 100 <= statusCode && statusCode < 200 && statusCode != 101 {
                // if the response status is in the range of 100..<200 but not 101 we don't want to
                // pop the request method. The actual request head is expected with the next HTTP
                // head.
                skipBody = true
            } else {
                // Matched, not compared (`HTTPMethod+Matching.swift`: `==` compares strings).
                let method = requestMethods.removeFirst()
                if method.isHEAD || method.isCONNECT {
                    skipBody = true
                } else if !HTTPBodyFraming.responseMayHaveBody(code: statusCode) {
                    skipBody = true
                }
            }
            self.requestMethods = consume requestMethods
        }

        let success = self.didFinishHead(
            versionMajor: versionMajor,
            versionMinor: versionMinor,
            isUpgrade: isUpgrade,
            method: method,
            statusCode: statusCode,
            keepAlive: keepAlive
        )
        guard success else {
            return .error(HPE_INVALID_VERSION)
        }

        return skipBody ? .skipBody : .normal
    }

    private func validateHeaderLength(_ newLength: Int) -> CInt {
        self.currentFieldByteLength += newLength
        if self.currentFieldByteLength > self.maximumHeaderFieldSize {
            self.richerError = HTTPParserError.headerOverflow
            return -1
        }

        self.totalHeadersByteLength += newLength
        if self.totalHeadersByteLength > self.maximumTotalHeadersSize {
            self.richerError = HTTPParserError.headerOverflow
            return -1
        }

        return 0
    }

    /// Runs llhttp over `bytes` (or tells it the input ended: `nil`); returns how many bytes
    /// may be discarded (NIO's `BetterHTTPParser.feedInput`).
    private func feedParser(_ bytes: UnsafeRawBufferPointer?) throws -> Int {
        var bytesRead = 0
        var rc: llhttp_errno_t

        if let bytes = bytes, let base = bytes.baseAddress {
            self.rawBytesView = bytes
            defer {
                self.rawBytesView = .init(start: nil, count: 0)
            }

            let startPointer = base + self.httpParserOffset
            let bytesToRead = bytes.count - self.httpParserOffset

            rc = c_nio_llhttp_execute_swift(self.parser, startPointer, bytesToRead)

            if rc == HPE_PAUSED_UPGRADE {
                // This is a special pause. We don't need to stop here (our other code will prevent us
                // parsing past this point, but we do need a special hook to work out how many bytes were read.
                guard let errorPosition = c_nio_llhttp_get_error_pos(self.parser) else {
                    preconditionFailure("llhttp paused for an upgrade without a position")
                }
                bytesRead = UnsafeRawPointer(errorPosition) - startPointer
                c_nio_llhttp_resume_after_upgrade(self.parser)
                rc = HPE_OK
            } else {
                bytesRead = bytesToRead
            }
        } else if bytes != nil {
            // No bytes (an empty buffer has no address): nothing to run.
            rc = HPE_OK
        } else {
            rc = c_nio_llhttp_finish(self.parser)
            bytesRead = 0
        }

        guard rc == HPE_OK else {
            // if we chose to abort (eg. wrong HTTP version) the error will be in self.httpErrno, otherwise llhttp
            // will tell us. If we have a richer error than the errno code, and the errno is internal, we'll use
            // it. Otherwise, we use the error from llhttp.
            let err = self.httpErrno ?? rc
            if err == HPE_INTERNAL || err == HPE_USER, let richerError = self.richerError {
                throw richerError
            } else {
                throw HTTPParserError.httpError(fromCHTTPParserErrno: err) ?? HTTPParserError.unknown
            }
        }

        if let firstNonDiscardableOffset = self.firstNonDiscardableOffset {
            self.httpParserOffset += bytesRead - firstNonDiscardableOffset
            self.firstNonDiscardableOffset = 0
            return firstNonDiscardableOffset
        } else {
            // By definition we've consumed all of the http parser offset at this stage. There may still be bytes
            // left in the buffer though: we didn't consume them because they aren't ours to consume, as they may belong
            // to an upgraded protocol.
            //
            // Set the HTTP parser offset back to zero, and tell the parent that we consumed
            // the whole buffer.
            let consumedBytes = self.httpParserOffset + bytesRead
            self.httpParserOffset = 0
            return consumedBytes
        }
    }

    // MARK: - The decoder (NIO's `HTTPDecoder`)

    /// Hands a request part to the receiver, or through the pipeline.
    @inline(__always)
    private func emit(_ part: RequestPart) {
        if let receiver = self.requestReceiver, receiver.decoded(part) { return }
        self.context?.fireChannelRead(NIOAny(part))
    }

    /// Hands a response part to the receiver, with llhttp's keep-alive verdict on its
    /// message, or through the pipeline.
    @inline(__always)
    private func emit(_ part: ResponsePart) {
        if let receiver = self.responseReceiver {
            let scan: HeaderHygiene.HopByHopScan?
            if case .head = part { scan = self.headScan } else { scan = nil }
            if receiver.decoded(part, keepAlive: self.keepAlive, fields: scan) { return }
        }
        self.context?.fireChannelRead(NIOAny(part))
    }

    private func didReceiveBodyData(_ bytes: UnsafeRawBufferPointer) {
        // Set by `feedInput` around every run of llhttp, which calls back only from inside it.
        guard var buffer = self.buffer else { preconditionFailure("body bytes outside a read") }
        let offset = buffer.withUnsafeReadableBytes { allBytes -> Int in
            guard let base = bytes.baseAddress, let allBase = allBytes.baseAddress else { return 0 }
            let offset = base - allBase
            assert(offset >= 0)
            assert(offset + bytes.count <= allBytes.count)
            return offset
        }
        buffer.moveReaderIndex(forwardBy: offset)
        let slice = buffer.readSlice(length: bytes.count)
        self.buffer = buffer
        guard let body = slice else { return }
        switch self.kind {
        case .request:
            self.emit(RequestPart.body(body))
        case .response:
            self.emit(ResponsePart.body(body))
        }
    }

    /// A header's or a trailer's name (NIO has one method for each, with the same body).
    private func didReceiveFieldName(_ bytes: UnsafeRawBufferPointer, inHead: Bool) throws {
        assert(!self.fields.hasPendingName)

        // Defensive check: llhttp tolerates a zero-length header field name, but we don't.
        guard bytes.count > 0 else {
            throw HTTPParserError.invalidHeaderToken
        }
        self.fields.setName(bytes, inHead: inHead)
    }

    private func didReceiveHeaderValue(_ bytes: UnsafeRawBufferPointer) {
        self.fields.appendValue(bytes)
    }

    private func didReceiveTrailerValue(_ bytes: UnsafeRawBufferPointer) {
        let trailer = self.fields.trailer(bytes)
        var trailers = self.trailers.take() ?? []
        trailers.append(trailer)
        self.trailers = consume trailers
    }

    private func didReceiveURL(_ bytes: UnsafeRawBufferPointer) {
        assert(self.fields.url == nil)
        self.fields.setURL(bytes)
    }

    private func didFinishHead(
        versionMajor: Int,
        versionMinor: Int,
        isUpgrade: Bool,
        method: llhttp_method,
        statusCode: Int,
        keepAlive: Bool
    ) -> Bool {
        guard versionMajor == 1 else {
            self.stopParsing = true
            self.context?.fireErrorCaught(HTTPParserError.invalidVersion)
            return false
        }
        self.keepAlive = keepAlive
        let (fields, url, scan) = self.fields.takeHead(headBytes: self.totalHeadersByteLength)
        let headers = HTTPHeaders(fields)
        self.headScan = scan

        switch self.kind {
        case .request:
            let head = HTTPRequestHead(
                version: .init(major: versionMajor, minor: versionMinor),
                method: HTTPMethod.from(httpParserMethod: method),
                uri: url ?? "",
                headers: headers
            )
            self.emit(RequestPart.head(head))

        case .response where (100..<200).contains(statusCode) && statusCode != 101:
            self.lastResponseHeaderWasInformational = true
            if self.informationalResponseStrategy == .forward {
                self.emit(ResponsePart.head(Self.responseHead(versionMajor, versionMinor, statusCode, headers)))
            }

        case .response:
            self.lastResponseHeaderWasInformational = false
            self.emit(ResponsePart.head(Self.responseHead(versionMajor, versionMinor, statusCode, headers)))
        }
        self.isUpgrade = isUpgrade
        return true
    }

    private static func responseHead(_ major: Int, _ minor: Int, _ statusCode: Int, _ headers: HTTPHeaders) -> HTTPResponseHead {
        HTTPResponseHead(version: .init(major: major, minor: minor), status: .init(statusCode: statusCode), headers: headers)
    }

    private func didFinishMessage() {
        let trailers = self.trailers.take()
        switch self.kind {
        case .request:
            self.emit(RequestPart.end(trailers.map(HTTPHeaders.init)))
        case .response:
            if !self.lastResponseHeaderWasInformational {
                self.emit(ResponsePart.end(trailers.map(HTTPHeaders.init)))
            }
        }
        self.stopParsing = self.isUpgrade ?? false
        self.isUpgrade = nil
    }

    // MARK: - ByteToMessageDecoder

    func decoderAdded(context: ChannelHandlerContext) {}

    func decoderRemoved(context: ChannelHandlerContext) {
        // The receivers are handlers of the same pipeline: the references end with it.
        self.requestReceiver = nil
        self.responseReceiver = nil
    }

    private func feedEOF(context: ChannelHandlerContext) throws {
        self.context = context
        defer {
            self.context = nil
        }
        // we don't care how much llhttp consumed here because we just fed an EOF so there won't be any more data.
        _ = try self.feedParser(nil)
    }

    private func feedInput(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws {
        self.buffer = buffer
        self.context = context
        defer {
            self.buffer = nil
            self.context = nil
        }
        let consumed = try buffer.withUnsafeReadableBytes { bytes -> Int in
            try self.feedParser(bytes)
        }
        buffer.moveReaderIndex(forwardBy: consumed)
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if !self.stopParsing {
            try self.feedInput(context: context, buffer: &buffer)
        }
        return .needMoreData
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if !self.stopParsing {
            while buffer.readableBytes > 0, case .continue = try self.decode(context: context, buffer: &buffer) {}
            if seenEOF {
                try self.feedEOF(context: context)
            }
        }
        if buffer.readableBytes > 0 && !seenEOF {
            // We only do this if we haven't seen EOF because the left-overs strategy must only be invoked when we're
            // sure that this is the completion of an upgrade.
            switch self.leftOverBytesStrategy {
            case .dropBytes:
                ()
            case .fireError:
                context.fireErrorCaught(ByteToMessageDecoderError.leftoverDataWhenDone(buffer))
            case .forwardBytes:
                context.fireChannelRead(NIOAny(buffer))
            }
        }
        return .needMoreData
    }

    // MARK: - WriteObservingByteToMessageDecoder

    func write(data: HTTPClientRequestPart) {
        if case .head(let head) = data {
            self.observeRequest(method: head.method)
        }
    }

    /// A request written on the connection (its head went down by another path): its
    /// response is decoded for its method.
    func observeRequest(method: HTTPMethod) {
        guard var requestMethods = self.requestMethods.take() else {
            preconditionFailure("decoder request methods re-entered")
        }
        requestMethods.append(method)
        self.requestMethods = consume requestMethods
    }
}

@available(*, unavailable)
extension HTTPMessageDecoder: Sendable {}

/// Takes a request decoder's parts by a direct call; `false` when it cannot (it left the
/// pipeline): the part then goes through the pipeline.
protocol DecodedRequestReceiver: AnyObject {
    func decoded(_ part: HTTPServerRequestPart) -> Bool
}

/// Takes a response decoder's parts by a direct call, each with llhttp's keep-alive verdict
/// on its message and, with a head, its fields' hop-by-hop scan (made as they were decoded);
/// `false` when it cannot (the part then goes through the pipeline).
protocol DecodedResponseReceiver: AnyObject {
    func decoded(_ part: HTTPClientResponsePart, keepAlive: Bool, fields: HeaderHygiene.HopByHopScan?) -> Bool
}
