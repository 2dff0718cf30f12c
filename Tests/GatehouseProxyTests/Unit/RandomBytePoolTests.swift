@testable import GatehouseProxy
import Testing

/// The loop's random bytes: drawn in bulk, each handed out once.
@Suite struct RandomBytePoolTests {
    /// A source that numbers its draws and fills each with a recognisable sequence:
    /// draw `d` holds `d·drawSize, d·drawSize + 1, …` (mod 256 per byte, with the draw's
    /// number in the first byte of each 16-byte group so draws differ).
    final class CountingSource {
        var draws = 0

        func fill(_ buffer: UnsafeMutableRawBufferPointer) {
            for index in buffer.indices {
                buffer[index] = index % 16 == 0 ? UInt8(truncatingIfNeeded: draws) : UInt8(truncatingIfNeeded: index)
            }
            draws += 1
        }
    }

    @Test func sixteenNoncesShareOneDraw() {
        let source = CountingSource()
        let pool = RandomBytePool(source: source.fill)
        var taken: [[UInt8]] = []
        for _ in 0..<RandomBytePool.drawSize / 16 { taken.append(pool.withFreshBytes(16) { Array($0) }) }
        #expect(source.draws == 1)
        // Consecutive pieces of the one draw, none handed out twice.
        for (index, piece) in taken.enumerated() {
            #expect(piece == [0] + (1..<16).map { UInt8(index * 16 + $0) })
        }
        _ = pool.withFreshBytes(16) { Array($0) }
        #expect(source.draws == 2)
    }

    @Test func whatIsLeftOfADrawTooShortIsDroppedNotReused() {
        let source = CountingSource()
        let pool = RandomBytePool(source: source.fill)
        _ = pool.withFreshBytes(RandomBytePool.drawSize - 10) { Array($0) }
        let next = pool.withFreshBytes(16) { Array($0) }
        // A new draw, read from its start: the 10 bytes left of the first are never used.
        #expect(source.draws == 2)
        #expect(next == [1] + (1..<16).map { UInt8($0) })
    }

    @Test func aWholeDrawAtOnce() {
        let source = CountingSource()
        let pool = RandomBytePool(source: source.fill)
        #expect(pool.withFreshBytes(RandomBytePool.drawSize) { $0.count } == RandomBytePool.drawSize)
        #expect(pool.withFreshBytes(0) { $0.count } == 0)
        #expect(source.draws == 1)
    }

    /// The kernel's bytes: pools and draws do not repeat one another (128-bit pieces
    /// colliding would be a broken source, not chance).
    @Test func systemBytesDoNotRepeat() {
        let pools = [RandomBytePool(), RandomBytePool()]
        var seen = Set<[UInt8]>()
        for pool in pools {
            for _ in 0..<200 { seen.insert(pool.withFreshBytes(16) { Array($0) }) }
        }
        #expect(seen.count == 400)
        // And not all zero (the buffer's initial bytes) after a refill.
        #expect(!seen.contains([UInt8](repeating: 0, count: 16)))
    }

    /// `getentropy` refused (a sandbox without `getrandom`): the standard library's
    /// generator fills the draw, up to its last byte when the length is no multiple of 8.
    @Test(arguments: [true, false])
    func everyByteOfADrawIsFilled(throughTheKernel: Bool) {
        func fill(_ buffer: UnsafeMutableRawBufferPointer) {
            if throughTheKernel { RandomBytePool.system(buffer) } else { RandomBytePool.standardLibrary(buffer) }
        }
        // Five draws of 37 bytes: the last five bytes (a partial word) all zero in every
        // one would mean they were never written (chance: 2⁻²⁰⁰).
        var tails = Set<[UInt8]>()
        for _ in 0..<5 {
            var buffer = [UInt8](repeating: 0, count: 37)
            buffer.withUnsafeMutableBytes { fill($0) }
            tails.insert(Array(buffer[32...]))
        }
        #expect(tails != [[0, 0, 0, 0, 0]])
        #expect(tails.count == 5)
    }
}
