import Foundation
import GatehouseApp
import GatehouseCore
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One real Gatehouse (``GatehouseInstance``, production wiring: event loop, pipeline,
/// gate, upstream pool, metering, user directory) between a blocking loopback client and a
/// blocking loopback API upstream. Client and upstream are plain POSIX sockets on
/// preallocated buffers: after connecting they allocate nothing per request, so the
/// process-wide malloc count of one round trip is what Gatehouse spends on it.
final class LoopbackRig: @unchecked Sendable {
    private(set) var instance: GatehouseInstance?
    private var upstream: RawUpstream?
    private var client: RawClient?
    /// The same client talking to the upstream directly: the rig's own cost (expected 0).
    private var directClient: RawClient?
    private var meterDir: String?
    private let fixtures: Fixtures
    /// The bearer token the client sends (the fixtures' valid RS256 token unless given).
    private let token: String?

    init(fixtures: Fixtures, token: String? = nil) {
        self.fixtures = fixtures
        self.token = token
    }

    func start() async throws {
        let upstream = try RawUpstream(body: #"{"items":[{"id":1,"name":"alpha"},{"id":2,"name":"beta"}],"next":null}"#)
        upstream.run()
        self.upstream = upstream
        let meterDir = NSTemporaryDirectory() + "gatehouse-bench-meter-\(getpid())"
        self.meterDir = meterDir
        var config = GatehouseConfiguration(
            listen: .init(host: "127.0.0.1", port: 0),
            adminListen: .init(host: "127.0.0.1", port: 0),
            eventLoops: 1,
            apps: [fixtures.appConfiguration(appPort: upstream.port, apiPort: upstream.port, jwtKey: fixtures.rsaPublicKeyPEM)]
        )
        config.users.store = "sqlite::memory:"
        config.metering.dir = meterDir
        config.metering.instance = "bench"
        var logger = Logger(label: "gatehouse-bench")
        logger.logLevel = .critical
        let instance = try await GatehouseInstance.start(configuration: config, logger: logger)
        self.instance = instance
        guard let port = instance.proxyAddress.port else { throw RigError("proxy has no port") }
        client = try RawClient(port: port, request: fixtures.browserAPIRequestBytes(token: token ?? fixtures.rsaToken))
        directClient = try RawClient(port: upstream.port, request: fixtures.browserAPIRequestBytes(token: fixtures.rsaToken))
    }

    /// One round trip straight to the upstream, bypassing Gatehouse.
    @discardableResult
    func directRoundTrip() -> Int {
        directClient!.roundTrip()
    }

    /// One `/_api` round trip on the kept-alive connection; returns the response status.
    @discardableResult
    func roundTrip() -> Int {
        let status = client!.roundTrip()
        if settleMicroseconds > 0 { usleep(settleMicroseconds) }
        return status
    }

    /// Experiment knob (GATEHOUSE_BENCH_SETTLE_US): wait after each response inside the
    /// measured region, so work Gatehouse does after the last response byte is counted too.
    private let settleMicroseconds: UInt32 = ProcessInfo.processInfo.environment["GATEHOUSE_BENCH_SETTLE_US"].flatMap { UInt32($0) } ?? 0

    func stop() async {
        client?.close()
        directClient?.close()
        await instance?.shutdown()
        upstream?.close()
        if let meterDir { try? FileManager.default.removeItem(atPath: meterDir) }
    }
}

struct RigError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private func loopbackAddress(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

#if canImport(Glibc)
private let streamSocket = Int32(SOCK_STREAM.rawValue)
#else
private let streamSocket = SOCK_STREAM
#endif

/// Finds `\r\n\r\n` in `buffer[0..<count]`; the index after it.
private func headEnd(_ buffer: UnsafeMutableRawBufferPointer, count: Int) -> Int? {
    guard count >= 4 else { return nil }
    for i in 0...(count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
        return i + 4
    }
    return nil
}

/// The `Content-Length` of the head in `buffer[0..<end]` (0 when absent), without allocating.
private let contentLengthName: [UInt8] = Array("\ncontent-length:".utf8)

private func closeFD(_ fd: Int32) {
    _ = close(fd)
}

private func contentLength(_ buffer: UnsafeMutableRawBufferPointer, end: Int) -> Int {
    let name = contentLengthName
    var i = 0
    outer: while i + name.count < end {
        for j in 0..<name.count {
            var b = buffer[i + j]
            if b >= 65 && b <= 90 { b += 32 }
            if b != name[j] { i += 1; continue outer }
        }
        var k = i + name.count
        while buffer[k] == 32 { k += 1 }
        var value = 0
        while buffer[k] >= 48 && buffer[k] <= 57 { value = value * 10 + Int(buffer[k] - 48); k += 1 }
        return value
    }
    return 0
}

/// A blocking HTTP/1.1 client on one kept-alive connection, sending the same request.
final class RawClient: @unchecked Sendable {
    private let fd: Int32
    private let request: UnsafeMutableRawBufferPointer
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)

    init(port: Int, request bytes: [UInt8]) throws {
        let fd = socket(AF_INET, streamSocket, 0)
        self.fd = fd
        var address = loopbackAddress(port: UInt16(port))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw RigError("connect: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // A hung proxy fails the run instead of blocking it.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        request = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        request.copyBytes(from: bytes)
    }

    func roundTrip() -> Int {
        var sent = 0
        while sent < request.count {
            let n = write(fd, request.baseAddress! + sent, request.count - sent)
            precondition(n > 0, "client write failed")
            sent += n
        }
        var have = 0
        var end: Int?
        var total = Int.max
        while have < total {
            let n = read(fd, buffer.baseAddress! + have, buffer.count - have)
            precondition(n > 0, "proxy closed the connection")
            have += n
            if end == nil, let e = headEnd(buffer, count: have) {
                end = e
                total = e + contentLength(buffer, end: e)
            }
        }
        // "HTTP/1.1 200"
        return Int(buffer[9] - 48) * 100 + Int(buffer[10] - 48) * 10 + Int(buffer[11] - 48)
    }

    func close() {
        closeFD(fd)
    }
}

/// A blocking HTTP/1.1 upstream answering every request (no body expected) with one fixed
/// JSON response; a thread per connection.
final class RawUpstream: @unchecked Sendable {
    let port: Int
    private let listenFD: Int32
    private let response: [UInt8]

    init(body: String) throws {
        response = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        let listenFD = socket(AF_INET, streamSocket, 0)
        self.listenFD = listenFD
        var one: Int32 = 1
        setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopbackAddress(port: 0)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0, listen(listenFD, 64) == 0 else { throw RigError("upstream bind/listen: errno \(errno)") }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenFD, $0, &length) }
        }
        port = Int(UInt16(bigEndian: bound.sin_port))
    }

    func run() {
        Thread.detachNewThread { [self] in
            while true {
                let fd = accept(listenFD, nil, nil)
                if fd < 0 { return }
                Thread.detachNewThread { [self] in serve(fd) }
            }
        }
    }

    private func serve(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 8)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: response.count, alignment: 1)
        out.copyBytes(from: response)
        defer {
            buffer.deallocate()
            out.deallocate()
            closeFD(fd)
        }
        var have = 0
        while true {
            let n = read(fd, buffer.baseAddress! + have, buffer.count - have)
            if n <= 0 { return }
            have += n
            while let end = headEnd(buffer, count: have) {
                let length = contentLength(buffer, end: end)
                guard have >= end + length else { break }
                var sent = 0
                while sent < out.count {
                    let w = write(fd, out.baseAddress! + sent, out.count - sent)
                    if w <= 0 { return }
                    sent += w
                }
                let consumed = end + length
                if consumed < have {
                    (buffer.baseAddress! ).copyMemory(from: buffer.baseAddress! + consumed, byteCount: have - consumed)
                }
                have -= consumed
            }
        }
    }

    func close() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        closeFD(listenFD)
    }
}
