import Foundation
import GatehouseAuth
import Testing

@Suite("Clerk publishable key")
struct ClerkPublishableKeyTests {
    func pk(_ prefix: String, _ text: String, padded: Bool = true) -> String {
        var b64 = Data(text.utf8).base64EncodedString()
        if !padded { b64 = b64.replacingOccurrences(of: "=", with: "") }
        return prefix + b64
    }

    @Test func decodes() {
        #expect(ClerkPublishableKey.frontendAPIHost(pk("pk_test_", "clerk.example.com$")) == "clerk.example.com")
        #expect(ClerkPublishableKey.frontendAPIHost(pk("pk_live_", "clerk.example.com$", padded: false)) == "clerk.example.com")
        #expect(ClerkPublishableKey.frontendAPIHost(pk("pk_test_", "fond-gecko-12.clerk.accounts.dev$")) == "fond-gecko-12.clerk.accounts.dev")
        #expect(ClerkPublishableKey.issuer(pk("pk_test_", "clerk.example.com$")) == "https://clerk.example.com")
        #expect(ClerkPublishableKey.jwksURL(pk("pk_test_", "clerk.example.com$")) == "https://clerk.example.com/.well-known/jwks.json")
    }

    @Test func rejects() {
        for bad in [
            pk("pk_test_", "clerk.example.com"), pk("sk_test_", "clerk.example.com$"), pk("pk_test_", "evil.example/path$"),
            pk("pk_test_", "user@evil.example$"), pk("pk_test_", "evil.example:8443$"), pk("pk_test_", "localhost$"),
            pk("pk_test_", "$"), "pk_test_", "pk_test_!!!!", pk("pk_test_", "-bad.example$"),
        ] {
            #expect(ClerkPublishableKey.frontendAPIHost(bad) == nil, "\(bad)")
        }
    }
}
