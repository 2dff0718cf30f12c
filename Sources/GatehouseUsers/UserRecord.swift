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
    /// `{"id":…,"email":…,"name":…,"avatar_url":…}`.
    public static func publicObject(id: String, profile: UserProfile) -> String {
        "{\"id\":" + quote(id) + ",\"email\":" + quote(profile.email) + ",\"name\":" + quote(profile.name)
            + ",\"avatar_url\":" + quote(profile.avatarURL) + "}"
    }

    /// `[{…},{…}]` of ``publicObject(id:profile:)``.
    public static func publicArray(_ records: [UserRecord]) -> String {
        "[" + records.map(\.publicJSON).joined(separator: ",") + "]"
    }

    /// A JSON string literal (RFC 8259 §7), or `null`. `<`, `>` and `&` are escaped too, so
    /// the text is safe wherever a page might embed it.
    public static func quote(_ value: String?) -> String {
        guard let value else { return "null" }
        var out = "\""
        out.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out += hexEscape(scalar.value)
            default:
                if scalar.value < 0x20 { out += hexEscape(scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    private static func hexEscape(_ v: UInt32) -> String {
        let hex = String(v, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
