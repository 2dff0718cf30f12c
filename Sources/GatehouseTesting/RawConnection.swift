import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A response as parsed by ``RawConnection``: what a client on the wire saw.
public struct TestHTTPResponse: Sendable {
    public var status: Int
    /// Header names lowercased, in order.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0 == name.lowercased() }?.1
    }
    public func headerValues(_ name: String) -> [String] {
        headers.filter { $0.0 == name.lowercased() }.map(\.1)
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

public struct RawConnectionError: Error, CustomStringConvertible {
    public let description: String
}

/// A plain TCP client for tests that must control every byte (framing, smuggling,
/// pipelining, slow clients) and read exactly what came back.
public final class RawConnection: Sendable {
    private let channel: Channel
    private let inbox: Inbox

    /// Every raw connection's loops, for the process's life: a group per connection made
    /// and joined a thread each time (300 for one test's three 100-connection waves), which
    /// the full suite, two cores busy, paid for in seconds.
    private static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    /// Bytes received and whether the peer closed, with waiters woken on change.
    final class Inbox: Sendable {
        struct State {
            var bytes: [UInt8] = []
            var closed = false
            var nextWaiter = 0
            var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
            /// Ticks that fired before their waiter was registered.
            var wokenEarly: Set<Int> = []
        }
        let state = NIOLockedValueBox(State())

        func append(_ b: ByteBuffer) {
            let waiters = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
                s.bytes.append(contentsOf: b.readableBytesView)
                defer { s.waiters = [:] }
                return Array(s.waiters.values)
            }
            waiters.forEach { $0.resume() }
        }

        func close() {
            let waiters = state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
                s.closed = true
                defer { s.waiters = [:] }
                return Array(s.waiters.values)
            }
            waiters.forEach { $0.resume() }
        }

        /// Resumes waiter `id` if nothing else has (each continuation resumes exactly once).
        private func wake(_ id: Int) {
            let waiter = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
                guard let waiter = s.waiters.removeValue(forKey: id) else {
                    s.wokenEarly.insert(id)
                    return nil
                }
                return waiter
            }
            waiter?.resume()
        }

        /// Waits until `ready` holds or the deadline passes (the deadline is a safety net
        /// against a hung test, not a timing assertion). Wakes on every change, and once at
        /// the deadline so a peer that sends nothing at all still ends in the timeout error.
        /// Not on a tick: a batch of 100 waiting connections ticking every 50 ms made 2,000
        /// tasks a second on the test process's two cooperative threads, which the rest of
        /// the full suite then queued behind.
        func wait<T>(timeout: Duration, _ ready: @escaping @Sendable ([UInt8], Bool) -> T?) async throws -> T {
            let deadline = ContinuousClock.now + timeout
            while true {
                if let value = state.withLockedValue({ ready($0.bytes, $0.closed) }) { return value }
                if ContinuousClock.now >= deadline {
                    let (bytes, closed) = state.withLockedValue { ($0.bytes, $0.closed) }
                    throw RawConnectionError(description: "timed out waiting for the peer (closed: \(closed), \(bytes.count) unread bytes: \(String(decoding: bytes.prefix(400), as: UTF8.self).debugDescription))")
                }
                let id = state.withLockedValue { s -> Int in
                    defer { s.nextWaiter += 1 }
                    return s.nextWaiter
                }
                let tick = Task { [weak self] in
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    if !Task.isCancelled { self?.wake(id) }
                }
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLockedValue { s -> Bool in
                        if ready(s.bytes, s.closed) != nil || s.wokenEarly.remove(id) != nil { return true }
                        s.waiters[id] = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
                tick.cancel()
            }
        }

        func consume(_ n: Int) { state.withLockedValue { $0.bytes.removeFirst(min(n, $0.bytes.count)) } }
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let inbox: Inbox
        init(inbox: Inbox) { self.inbox = inbox }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { inbox.append(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { inbox.close() }
        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }

    public static func connect(host: String = "127.0.0.1", port: Int) async throws -> RawConnection {
        let inbox = Inbox()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(inbox: inbox)) }
            }
            .connect(host: host, port: port).get()
        return RawConnection(channel: channel, inbox: inbox)
    }

    private init(channel: Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    public func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) async throws {
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await channel.writeAndFlush(buffer)
    }

    /// Reads one complete response (by `Content-Length`, chunked, or until close).
    /// `headRequest`: the response has no body.
    public func readResponse(timeout: Duration = .seconds(10), headRequest: Bool = false) async throws -> TestHTTPResponse {
        let (response, used) = try await inbox.wait(timeout: timeout) { bytes, closed in
            HTTPResponseParser.parse(bytes, peerClosed: closed, headRequest: headRequest)
        }
        inbox.consume(used)
        return response
    }

    /// Waits until the unread bytes satisfy `complete`, then returns and consumes them all.
    public func readRaw(timeout: Duration = .seconds(10), until complete: @escaping @Sendable ([UInt8]) -> Bool) async throws -> [UInt8] {
        let bytes = try await inbox.wait(timeout: timeout) { bytes, _ in complete(bytes) ? bytes : nil }
        inbox.consume(bytes.count)
        return bytes
    }

    /// Waits for the server to close the connection; returns every byte left unread.
    public func readUntilClose(timeout: Duration = .seconds(10)) async throws -> [UInt8] {
        try await inbox.wait(timeout: timeout) { bytes, closed in closed ? bytes : nil }
    }

    /// Whether the server closed the connection within `timeout`.
    public func waitForClose(timeout: Duration = .seconds(10)) async -> Bool {
        (try? await readUntilClose(timeout: timeout)) != nil
    }

    public func close() async {
        try? await channel.close()
    }
}

/// Byte-level helpers for reading HTTP/1.1 off the wire.
public enum HTTPBytes {
    /// The index of the first `needle` in `bytes` at or after `start`; `nil` when none.
    public static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        var i = start
        while i <= bytes.count - needle.count {
            if bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }
}

/// Parses one HTTP/1.1 response from the start of `bytes`; `nil` while incomplete.
enum HTTPResponseParser {
    static func parse(_ bytes: [UInt8], peerClosed: Bool, headRequest: Bool) -> (TestHTTPResponse, Int)? {
        guard let headEnd = HTTPBytes.find([13, 10, 13, 10], in: bytes, from: 0) else { return nil }
        let headText = String(decoding: bytes[0..<headEnd], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var pos = headEnd + 4
        if status < 200 {
            // Informational: report it alone.
            return (TestHTTPResponse(status: status, headers: headers, body: []), pos)
        }
        let value = { (n: String) in headers.first { $0.0 == n }?.1 }
        if headRequest || status == 204 || status == 304 {
            return (TestHTTPResponse(status: status, headers: headers, body: []), pos)
        }
        if let te = value("transfer-encoding"), te.lowercased().contains("chunked") {
            var body: [UInt8] = []
            while true {
                guard let lineEnd = HTTPBytes.find([13, 10], in: bytes, from: pos) else { return nil }
                let sizeText = String(decoding: bytes[pos..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
                pos = lineEnd + 2
                if size == 0 {
                    guard let end = HTTPBytes.find([13, 10], in: bytes, from: pos) else { return nil }
                    pos = end + 2
                    return (TestHTTPResponse(status: status, headers: headers, body: body), pos)
                }
                guard bytes.count >= pos + size + 2 else { return nil }
                body.append(contentsOf: bytes[pos..<pos + size])
                pos += size + 2
            }
        }
        if let cl = value("content-length"), let length = Int(cl) {
            guard bytes.count >= pos + length else { return nil }
            return (TestHTTPResponse(status: status, headers: headers, body: Array(bytes[pos..<pos + length])), pos + length)
        }
        guard peerClosed else { return nil }
        return (TestHTTPResponse(status: status, headers: headers, body: Array(bytes[pos...])), bytes.count)
    }
}

extension RawConnection {
    /// One request on a fresh connection to 127.0.0.1:`port`; the response as read.
    /// `timeout`: how long the response may take (a bound against a hang; a test that holds
    /// its upstream until every request of a batch has arrived passes ``GateRig/pollTimeout``).
    public static func request(
        port: Int, _ method: String = "GET", _ target: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        host: String = "gatehouse.test", timeout: Duration = .seconds(10)
    ) async throws -> TestHTTPResponse {
        let connection = try await RawConnection.connect(port: port)
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        do {
            try await connection.send(Array(head.utf8) + (body ?? []))
            let response = try await connection.readResponse(timeout: timeout, headRequest: method == "HEAD")
            await connection.close()
            return response
        } catch {
            await connection.close()
            throw error
        }
    }
}
