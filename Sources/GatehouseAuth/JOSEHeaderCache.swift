/// JWS headers already parsed, by their exact base64url text: one per app per event loop.
///
/// An issuer signs every token under the same few headers (`{"alg":"RS256","kid":…,
/// "typ":"JWT"}`), and a header's decode, strict parse and member look-ups were ~11,000
/// instructions of every verification — a third of a forged token's cost outside the RSA
/// check. Only headers that passed steps 1–3 of ``TokenVerifier`` are kept, keyed by every
/// byte of their text: a hit is the same text, so the same `alg` and `kid`. Bounded: 8
/// headers of at most 512 bytes, replaced in turn; an attacker varying headers only pays
/// the parse a miss always paid. Not `Sendable` in use: confined to its loop like the
/// token cache that holds it.
public struct JOSEHeaderCache: Sendable {
    struct Entry: Sendable {
        let text: [UInt8]
        let alg: JWTAlgorithm
        let kid: String?
    }

    static let capacity = 8
    static let maxTextBytes = 512

    private var entries: [Entry] = []
    private var next = 0

    public init() {}

    /// The `alg` and `kid` of a header with exactly this text, if one was kept.
    func lookup(_ text: UnsafeBufferPointer<UInt8>) -> (alg: JWTAlgorithm, kid: String?)? {
        for entry in entries where entry.text.count == text.count {
            let same = entry.text.withUnsafeBufferPointer { $0.elementsEqual(text) }
            if same { return (entry.alg, entry.kid) }
        }
        return nil
    }

    mutating func insert(_ text: UnsafeBufferPointer<UInt8>, alg: JWTAlgorithm, kid: String?) {
        guard text.count <= Self.maxTextBytes else { return }
        let entry = Entry(text: Array(text), alg: alg, kid: kid)
        if entries.count < Self.capacity {
            entries.append(entry)
        } else {
            entries[next] = entry
            next = (next + 1) % Self.capacity
        }
    }

    /// How many headers are kept (tests).
    var count: Int { entries.count }
}
