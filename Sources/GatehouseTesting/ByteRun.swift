import Foundation
import NIOCore

/// Checks that a buffer holds one repeated byte, fast enough for hundreds of megabytes
/// in a debug build (`memcmp` against a reference run rather than a Swift loop per byte).
public struct ByteRun: Sendable {
    public let byte: UInt8
    private let reference: [UInt8]

    public init(byte: UInt8, length: Int = 64 * 1024) {
        self.byte = byte
        self.reference = [UInt8](repeating: byte, count: max(1, length))
    }

    /// How many bytes of `buffer`'s readable bytes differ from ``byte``.
    public func mismatches(in buffer: ByteBuffer) -> Int {
        buffer.withUnsafeReadableBytes { raw in
            reference.withUnsafeBytes { ref in
                guard let base = raw.baseAddress, let refBase = ref.baseAddress else { return 0 }
                var count = 0
                var offset = 0
                while offset < raw.count {
                    let n = min(ref.count, raw.count - offset)
                    if memcmp(base + offset, refBase, n) != 0 {
                        for i in offset..<offset + n where raw[i] != byte { count += 1 }
                    }
                    offset += n
                }
                return count
            }
        }
    }
}
