#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct BlockingClientSocketError: Error, CustomStringConvertible {
    public let description: String
}

/// A plain blocking TCP client on 127.0.0.1, for attacks that need the kernel's own
/// backpressure: a writer thread blocks in `write(2)` once the server stops reading, and
/// the receive buffer is set small before connecting so the server's answers back up
/// quickly. Reads time out after `readTimeout` seconds (then ``read(max:)`` returns `nil`).
public final class BlockingClientSocket: Sendable {
    private let fd: Int32

    public init(port: Int, receiveBuffer: Int, readTimeout: Int = 20) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BlockingClientSocketError(description: "socket: errno \(errno)") }
        var size = Int32(receiveBuffer)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: readTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withLoopbackAddress(port: port) { connect(fd, $0, $1) }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            throw BlockingClientSocketError(description: "connect to \(port): errno \(code)")
        }
        self.fd = fd
    }

    /// Writes all of `bytes` (blocking while the peer does not read); `false` on an error
    /// (a reset connection among them: `MSG_NOSIGNAL`, so no `SIGPIPE`).
    public func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    /// Up to `max` bytes; `nil` at end of stream, on an error or after the read timeout.
    public func read(max: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, max) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            return Array(buffer[0..<n])
        }
    }

    /// Bytes received and not read yet (`FIONREAD`): how far a peer got while this side
    /// read nothing.
    public var bytesAvailable: Int {
        var count: Int32 = 0
        guard ioctl(fd, UInt(FIONREAD), &count) == 0 else { return -1 }
        return Int(count)
    }

    /// Shuts both directions down first, so a thread blocked in ``writeAll(_:)`` returns.
    /// Ends both directions, as a client does once it read the server's end of stream; the
    /// descriptor stays open until ``close()``.
    public func shutdown() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    public func close() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// `127.0.0.1:port` as the `sockaddr` that `bind(2)`/`connect(2)` take.
func withLoopbackAddress<T>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

/// A loopback port that refuses connections for as long as this is held: bound, never
/// listening. A port picked and closed again could be bound by a test running beside
/// before it was used (then "connection refused" became "the server closed the
/// connection"); a bound one cannot.
public final class RefusingPort: Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BlockingClientSocketError(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withLoopbackAddress(port: 0) { bind(fd, $0, $1) }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0 else {
            let code = errno
            Glibc.close(fd)
            throw BlockingClientSocketError(description: "bind: errno \(code)")
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { Glibc.close(fd) }
}
