import GatehouseAuth

/// Reads the profile out of Clerk's Backend API user object (`GET /v1/users/{id}`):
/// the primary address of `email_addresses` (by `primary_email_address_id`),
/// `first_name` + `last_name`, and `image_url`. Pure; anything unexpected is `nil`.
public enum ClerkUserJSON {
    public static func profile(from body: some Collection<UInt8>) -> UserProfile? {
        guard case .object(let user)? = try? StrictJSON.parse(body) else { return nil }
        var profile = UserProfile()
        if let addresses = user["email_addresses"]?.arrayValue {
            let primary = user["primary_email_address_id"]?.stringValue
            let objects = addresses.compactMap(\.objectValue)
            let chosen = objects.first { primary != nil && $0["id"]?.stringValue == primary } ?? (primary == nil ? objects.first : nil)
            profile.email = chosen?["email_address"]?.stringValue
        }
        let names = [user["first_name"]?.stringValue, user["last_name"]?.stringValue].compactMap { $0 }.filter { !$0.isEmpty }
        if !names.isEmpty { profile.name = names.joined(separator: " ") }
        if let image = user["image_url"]?.stringValue, !image.isEmpty { profile.avatarURL = image }
        return profile
    }
}
