import Foundation
import GatehouseTesting
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

// MARK: - A paced, byte-exact upstream

/// An upstream that answers with exactly the bytes a test scripts, and records exactly the
/// bytes Gatehouse sent: for upstreams that misbehave in ways a well-behaved NIO server
/// cannot, and for seeing what Gatehouse forwards beyond what a parser reports (trailers).
/// Requests are split by a minimal parser (head, then `Content-Length` or chunked body with
/// trailers). Runs on its own event loop group on 127.0.0.1.
///
/// Each answer is a script: writes, pauses (so each write is a read of its own at
/// Gatehouse), a close, a hang-up, or `tunnel` (every byte after this request's head is
/// tunnel data, recorded and never parsed). Records what it parsed, what it tunnelled and
/// what it could not parse (`leftover`).
final class PacedUpstream: Sendable {
    enum Step: Sendable, Equatable {
        case send([UInt8])
        case pause(Int)
        /// Close now, whatever was written before it.
        case close
        /// Parse no request after this one; close once the writes before it have gone out.
        case hangUp
        case tunnel

        static func text(_ text: String) -> Step { .send(Array(text.utf8)) }
    }

    struct Request: Sendable {
        var connection: Int
        var method: String
        var path: String
        var head: String
        var body: [UInt8]
        /// The trailer section as sent (empty when none).
        var trailers: String
    }

    struct State {
        var requests: [Request] = []
        var received: [UInt8] = []
        var tunnelled: [UInt8] = []
        var leftovers: [Int: [UInt8]] = [:]
        var connections = 0
    }

    private let server: ScriptedServer
    private let state: NIOLockedValueBox<State>

    var port: Int { server.port }
    var url: String { server.url }
    var requests: [Request] { state.withLockedValue { $0.requests } }
    var received: [UInt8] { state.withLockedValue { $0.received } }
    var tunnelled: [UInt8] { state.withLockedValue { $0.tunnelled } }
    var leftover: [UInt8] { state.withLockedValue { s in s.leftovers.keys.sorted().flatMap { s.leftovers[$0] ?? [] } } }
    var connectionCount: Int { state.withLockedValue { $0.connections } }
    func reset() { state.withLockedValue { $0.requests = []; $0.received = []; $0.tunnelled = []; $0.leftovers = [:] } }

    /// `reply` gets each request and its index among all requests so far. `noDelay` sets
    /// `TCP_NODELAY` on accepted connections.
    static func start(noDelay: Bool = true, reply: @escaping @Sendable (Request, Int) -> [Step]) async throws -> PacedUpstream {
        let state = NIOLockedValueBox(State())
        let server = try await ScriptedServer.start(noDelay: noDelay) { channel in
            let index = state.withLockedValue { s -> Int in
                s.connections += 1
                return s.connections - 1
            }
            try channel.pipeline.syncOperations.addHandler(Handler(connection: index, state: state, reply: reply))
        }
        return PacedUpstream(server: server, state: state)
    }

    private init(server: ScriptedServer, state: NIOLockedValueBox<State>) {
        self.server = server
        self.state = state
    }

    func stop() async {
        await server.stop()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let connection: Int
        let state: NIOLockedValueBox<State>
        let reply: @Sendable (Request, Int) -> [Step]
        var buffer: [UInt8] = []
        var queue: [Step] = []
        var lastWrite: EventLoopFuture<Void>?
        var waiting = false
        var tunnel = false
        var hangingUp = false
        var closed = false

        init(connection: Int, state: NIOLockedValueBox<State>, reply: @escaping @Sendable (Request, Int) -> [Step]) {
            self.connection = connection
            self.state = state
            self.reply = reply
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = Array(unwrapInboundIn(data).readableBytesView)
            state.withLockedValue { $0.received.append(contentsOf: bytes) }
            if tunnel {
                state.withLockedValue { $0.tunnelled.append(contentsOf: bytes) }
                return
            }
            buffer.append(contentsOf: bytes)
            while !tunnel, !hangingUp, let (request, used) = Self.parse(buffer, connection: connection) {
                buffer.removeFirst(used)
                let index = state.withLockedValue { s -> Int in
                    s.requests.append(request)
                    return s.requests.count - 1
                }
                let steps = reply(request, index)
                if steps.contains(.hangUp) { hangingUp = true }
                if steps.contains(.tunnel) {
                    tunnel = true
                    let rest = buffer
                    buffer = []
                    state.withLockedValue { $0.tunnelled.append(contentsOf: rest) }
                }
                queue += steps
            }
            let left = buffer
            state.withLockedValue { $0.leftovers[connection] = left }
            run(context: context)
        }

        func run(context: ChannelHandlerContext) {
            guard !waiting, !closed else { return }
            while !queue.isEmpty {
                switch queue.removeFirst() {
                case .send(let bytes):
                    lastWrite = context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)))
                case .pause(let ms):
                    waiting = true
                    context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(ms))) {
                        self.waiting = false
                        self.run(context: context)
                    }
                    return
                case .close:
                    closed = true
                    queue = []
                    context.close(promise: nil)
                    return
                case .hangUp:
                    closed = true
                    queue = []
                    if let lastWrite {
                        lastWrite.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                    } else {
                        context.close(promise: nil)
                    }
                    return
                case .tunnel:
                    continue
                }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed = true
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }

        /// One request from the start of `bytes`, and how many bytes it took; `nil` while incomplete.
        static func parse(_ bytes: [UInt8], connection: Int) -> (Request, Int)? {
            let crlf: [UInt8] = [13, 10]
            guard let headEnd = HTTPBytes.find([13, 10, 13, 10], in: bytes, from: 0) else { return nil }
            let head = String(decoding: bytes[0..<headEnd], as: UTF8.self)
            var lines = head.components(separatedBy: "\r\n")
            let requestLine = lines.removeFirst().split(separator: " ")
            var length = 0
            var chunked = false
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces).lowercased()
                if name == "content-length" { length = Int(value) ?? 0 }
                if name == "transfer-encoding", value.hasSuffix("chunked") { chunked = true }
            }
            var pos = headEnd + 4
            var body: [UInt8] = []
            var trailers = ""
            if chunked {
                while true {
                    guard let lineEnd = HTTPBytes.find(crlf, in: bytes, from: pos) else { return nil }
                    let sizeText = String(decoding: bytes[pos..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                    let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
                    pos = lineEnd + 2
                    if size == 0 {
                        let trailerStart = pos
                        var trailerEnd = pos
                        while true {
                            guard let end = HTTPBytes.find(crlf, in: bytes, from: pos) else { return nil }
                            let empty = end == pos
                            trailerEnd = pos
                            pos = end + 2
                            if empty { break }
                        }
                        trailers = String(decoding: bytes[trailerStart..<trailerEnd], as: UTF8.self)
                        break
                    }
                    guard bytes.count >= pos + size + 2 else { return nil }
                    body.append(contentsOf: bytes[pos..<pos + size])
                    pos += size + 2
                }
            } else {
                guard bytes.count >= pos + length else { return nil }
                body = Array(bytes[pos..<pos + length])
                pos += length
            }
            let method = requestLine.first.map(String.init) ?? ""
            let target = requestLine.count > 1 ? String(requestLine[1]) : ""
            let path = String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            return (Request(connection: connection, method: method, path: path, head: head, body: body, trailers: trailers), pos)
        }
    }
}

// MARK: - One reply per request

/// A ``PacedUpstream`` whose answer to each request is one write, optionally followed by a
/// hang-up (no further request read on that connection, closed once the write has gone
/// out). Accepted connections keep Nagle's algorithm on.
final class RawUpstream: Sendable {
    typealias Request = PacedUpstream.Request

    struct Reply: Sendable {
        var bytes: [UInt8]
        var close = false

        static func raw(_ text: String) -> Reply { Reply(bytes: Array(text.utf8)) }
        static func ok(_ body: String) -> Reply { raw("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)") }

        var steps: [PacedUpstream.Step] { [.send(bytes)] + (close ? [.hangUp] : []) }
    }

    private let upstream: PacedUpstream

    var port: Int { upstream.port }
    var url: String { upstream.url }
    var requests: [Request] { upstream.requests }
    var received: [UInt8] { upstream.received }
    var connectionCount: Int { upstream.connectionCount }
    func reset() { upstream.reset() }

    /// `reply` gets each request and its index among all requests so far.
    static func start(reply: @escaping @Sendable (Request, Int) -> Reply) async throws -> RawUpstream {
        RawUpstream(try await PacedUpstream.start(noDelay: false) { request, index in reply(request, index).steps })
    }

    private init(_ upstream: PacedUpstream) {
        self.upstream = upstream
    }

    func stop() async {
        await upstream.stop()
    }
}

// MARK: - An answer before the body

/// Answers each connection's first request as soon as its head is in, before any of its
/// body (a server turning an upload away early), then reads and drops whatever follows
/// and never closes: what Gatehouse does next is its own decision.
final class EarlyUpstream: Sendable {
    private let server: ScriptedServer

    var url: String { server.url }

    /// `rest`, when given, follows `answer` once `restAfter` bytes behind the head have
    /// come in — or, with `restAfter` `nil`, once the request's bytes end (the input
    /// closes): an answer still under way while the request's body arrives.
    static func start(answer: String, rest: String? = nil, restAfter: Int? = 0) async throws -> EarlyUpstream {
        EarlyUpstream(server: try await ScriptedServer.start(noDelay: false, halfClosure: true) { channel in
            try channel.pipeline.syncOperations.addHandler(
                Handler(answer: Array(answer.utf8), rest: rest.map { Array($0.utf8) }, restAfter: restAfter))
        })
    }

    private init(server: ScriptedServer) {
        self.server = server
    }

    func stop() async {
        await server.stop()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let answer: [UInt8]
        var rest: [UInt8]?
        let restAfter: Int?
        var seen: [UInt8] = []
        var headEnd: Int?

        init(answer: [UInt8], rest: [UInt8]?, restAfter: Int?) {
            self.answer = answer
            self.rest = rest
            self.restAfter = restAfter
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            seen += unwrapInboundIn(data).readableBytesView
            if headEnd == nil {
                guard let end = HTTPBytes.find([13, 10, 13, 10], in: seen, from: 0) else { return }
                headEnd = end + 4
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: answer)), promise: nil)
            }
            if let headEnd, let rest, let restAfter, seen.count - headEnd >= restAfter {
                self.rest = nil
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: rest)), promise: nil)
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
            let rest = self.rest ?? []
            self.rest = nil
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: rest))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }
}

// MARK: - What the scripted servers share

/// A server on 127.0.0.1 (a free port, a one-thread loop group of its own) whose accepted
/// connections `initialize` sets up, on their loop.
final class ScriptedServer: Sendable {
    let port: Int
    private let channel: Channel
    private let group: MultiThreadedEventLoopGroup

    var url: String { "http://127.0.0.1:\(port)" }

    /// `noDelay` sets `TCP_NODELAY` on accepted connections; `halfClosure` lets them write
    /// on after their input ended (`ChannelEvent.inputClosed`).
    static func start(
        noDelay: Bool = true, halfClosure: Bool = false, _ initialize: @escaping @Sendable (Channel) throws -> Void
    ) async throws -> ScriptedServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        if noDelay { bootstrap = bootstrap.childChannelOption(.socketOption(.tcp_nodelay), value: 1) }
        if halfClosure { bootstrap = bootstrap.childChannelOption(.allowRemoteHalfClosure, value: true) }
        let channel = try await bootstrap
            .childChannelInitializer { channel in channel.eventLoop.makeCompletedFuture { try initialize(channel) } }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedServer(port: channel.localAddress?.port ?? 0, channel: channel, group: group)
    }

    private init(port: Int, channel: Channel, group: MultiThreadedEventLoopGroup) {
        self.port = port
        self.channel = channel
        self.group = group
    }

    func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}
