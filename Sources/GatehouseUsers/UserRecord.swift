import GatehouseCore

/// What Gatehouse knows about a user beyond the id: each field `nil` until some token
/// claim (or Clerk's Backend API) names it.
public struct UserProfile: Sendable, Equatable {
    public var email: String?
    public var name: String?
    public var avatarURL: String?

    public init(email: String? = nil, name: String? = nil, avatarURL: String? = nil) {
        self.email = email
        self.name = name
        self.avatarURL = avatarURL
    }

    /// Whether every field is known (nothing left to look up).
    public var isComplete: Bool { email != nil && name != nil && avatarURL != nil }

    /// `self` with the fields it lacks taken from `other` (claims win over look-ups).
    public func filling(from other: UserProfile) -> UserProfile {
        UserProfile(email: email ?? other.email, name: name ?? other.name, avatarURL: avatarURL ?? other.avatarURL)
    }

    /// Whether `newer` names a field differently from `self` (a value to store).
    func differs(from newer: UserProfile) -> Bool {
        (newer.email != nil && newer.email != email) || (newer.name != nil && newer.name != name)
            || (newer.avatarURL != nil && newer.avatarURL != avatarURL)
    }
}

/// One stored user of one app (SPEC "Auth endpoints": id, email, name, avatar_url,
/// first/last seen). Times are seconds since 1970.
public struct UserRecord: Sendable, Equatable {
    public var appID: String
    /// The token's `sub`.
    public var id: String
    public var profile: UserProfile
    public var firstSeen: Double
    public var lastSeen: Double

    public init(appID: String, id: String, profile: UserProfile, firstSeen: Double, lastSeen: Double) {
        self.appID = appID
        self.id = id
        self.profile = profile
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}

extension UserRecord {
    /// `{"id","email","name","avatar_url"}`, unknown fields `null`: what `/_auth/me` and
    /// `/_auth/users` return for a user.
    public var publicJSON: String {
        UserJSON.publicObject(id: id, profile: profile)
    }
}

/// The JSON Gatehouse writes for users, members in a fixed order.
public enum UserJSON {
    /// `{"id":…,"email":…,"name":…,"avatar_url":…}`, written into one byte array (eight
    /// string concatenations made eight strings of every `/_auth/me`).
    public static func publicObject(id: String, profile: UserProfile) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(
            56 + id.utf8.count + (profile.email?.utf8.count ?? 0) + (profile.name?.utf8.count ?? 0) + (profile.avatarURL?.utf8.count ?? 0)
        )
        append(#"{"id":"#, to: &out)
        appendQuoted(id, to: &out)
        append(#","email":"#, to: &out)
        appendQuoted(profile.email, to: &out)
        append(#","name":"#, to: &out)
        appendQuoted(profile.name, to: &out)
        append(#","avatar_url":"#, to: &out)
        appendQuoted(profile.avatarURL, to: &out)
        append("}", to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func append(_ literal: StaticString, to out: inout [UInt8]) {
        literal.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// `[{…},{…}]` of ``publicObject(id:profile:)``.
    public static func publicArray(_ records: [UserRecord]) -> String {
        "[" + records.map(\.publicJSON).joined(separator: ",") + "]"
    }

    /// A JSON string literal (RFC 8259 §7), or `null`. `<`, `>` and `&` are escaped too, so
    /// the text is safe wherever a page might embed it.
    ///
    /// Over the UTF-8 bytes: a value with nothing to escape (nearly every id, email and
    /// name) is quoted as it is; otherwise the runs between escapes are copied whole. A
    /// `String` grown one `Unicode.Scalar` at a time was ~15,000 instructions of every
    /// `/_auth/me` (the four fields of one user).
    public static func quote(_ value: String?) -> String {
        guard let value else { return "null" }
        let plain = value.withUTF8Bytes { bytes in !bytes.indices.contains { escape(bytes, at: $0) != nil } }
        if plain { return "\"" + value + "\"" }
        var out: [UInt8] = []
        appendQuoted(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// ``quote(_:)`` into `out`: the runs between escapes copied whole.
    static func appendQuoted(_ value: String?, to out: inout [UInt8]) {
        guard let value else {
            append("null", to: &out)
            return
        }
        out.append(UInt8(ascii: "\""))
        value.withUTF8Bytes { bytes in
            var run = 0
            var i = 0
            while i < bytes.count {
                guard let (scalar, length) = escape(bytes, at: i) else {
                    i += 1
                    continue
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<i]))
                appendEscape(scalar, to: &out)
                i += length
                run = i
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<bytes.count]))
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The scalar to escape at `i` and its length in bytes, or `nil`: `"`, `\`, a control
    /// character, `<`, `>`, `&`, or U+2028/U+2029 (E2 80 A8/A9; any other byte of a
    /// multi-byte character is copied as it is).
    @inline(__always)
    private static func escape(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int)? {
        let byte = bytes[i]
        switch byte {
        case 0..<0x20, UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
            return (UInt32(byte), 1)
        case 0xE2 where i + 2 < bytes.count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9):
            return (bytes[i + 2] == 0xA8 ? 0x2028 : 0x2029, 3)
        default:
            return nil
        }
    }

    private static func appendEscape(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case UInt32(UInt8(ascii: "\"")): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
        case UInt32(UInt8(ascii: "\\")): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
        case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
        case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
        case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
        default: out += hexEscape(scalar).utf8
        }
    }

    private static func hexEscape(_ v: UInt32) -> String {
        let hex = String(v, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
