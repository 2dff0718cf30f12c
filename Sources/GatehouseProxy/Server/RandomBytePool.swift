#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Random bytes for one event loop, drawn from the kernel ``drawSize`` bytes at a time.
///
/// Why: the standard library's `SystemRandomNumberGenerator` makes one `getrandom(2)` call
/// per 8 bytes, so each injected page whose `Content-Security-Policy` needs a nonce paid
/// two system calls for its 16 random bytes — two of the six calls such a page costs
/// (read, read, write, writev besides). Drawn 256 bytes at a time (`getentropy(3)`'s most,
/// one `getrandom(2)`), sixteen nonces share one call.
///
/// Every byte handed out comes from the kernel's generator and is handed out once: what
/// is left of a draw too short for a request is dropped, never reused. Confined to its
/// loop (``LoopContext``), like the rest of what the loop keeps: no lock.
final class RandomBytePool {
    /// `getentropy(3)` fills at most 256 bytes per call.
    static let drawSize = 256

    /// Fills the buffer with random bytes (the kernel's, outside tests).
    typealias Source = (UnsafeMutableRawBufferPointer) -> Void

    private var bytes: [UInt8]
    /// The first byte not handed out yet; ``drawSize`` when the pool is spent.
    private var next: Int
    private let source: Source

    init(source: @escaping Source = RandomBytePool.system) {
        self.bytes = [UInt8](repeating: 0, count: Self.drawSize)
        self.next = Self.drawSize
        self.source = source
    }

    /// Runs `body` on `count` bytes not handed out before (`count` ≤ ``drawSize``).
    func withFreshBytes<Result>(_ count: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        precondition(count >= 0 && count <= Self.drawSize, "at most \(Self.drawSize) random bytes at a time")
        if Self.drawSize - next < count {
            bytes.withUnsafeMutableBytes { source($0) }
            next = 0
        }
        let start = next
        next += count
        return bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<start + count])) }
    }

    /// The kernel's generator through `getentropy(3)`; should it fail (a seccomp profile
    /// refusing `getrandom(2)`), the standard library's generator, which has its own
    /// fallbacks and traps rather than hand out anything predictable.
    static func system(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        if getentropy(base, buffer.count) == 0 { return }
        standardLibrary(buffer)
    }

    /// The standard library's generator, 8 bytes per call.
    static func standardLibrary(_ buffer: UnsafeMutableRawBufferPointer) {
        var generator = SystemRandomNumberGenerator()
        var offset = 0
        while offset < buffer.count {
            var word = generator.next() as UInt64
            let take = min(MemoryLayout<UInt64>.size, buffer.count - offset)
            withUnsafeBytes(of: &word) { wordBytes in
                UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<offset + take])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: wordBytes[0..<take]))
            }
            offset += take
        }
    }
}

@available(*, unavailable)
extension RandomBytePool: Sendable {}
