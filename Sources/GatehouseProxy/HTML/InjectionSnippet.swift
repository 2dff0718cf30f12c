import GatehouseAuth
import GatehouseCore

/// The two tags injected into an app's HTML (SPEC "HTML injection"):
///
/// ```html
/// <script data-gatehouse>window.__MIXPEEK__={…}</script><script data-gatehouse src="/_auth/sdk.js"></script>
/// ```
///
/// `window.__MIXPEEK__` tells the SDK what it needs and nothing secret: the app id and
/// the auth mode; in `clerk` mode also the publishable key, the Frontend API host it
/// names, the clerk-js URL and `allowed_providers`. Never the owner key or Clerk's secret
/// key. A few hundred bytes, built when a response is about to be injected; pure, tested
/// alone.
struct InjectionSnippet: Sendable, Equatable {
    /// The JSON object, already escaped for an inline script.
    let configJSON: String
    /// ``tags(nonce:)`` without a nonce, the usual case, built once.
    private let plainTags: String

    init(app: AppConfiguration) {
        configJSON = Self.configJSON(app)
        plainTags = Self.tags(configJSON: configJSON, nonce: nil)
    }

    /// Both tags; with `nonce` (a `Content-Security-Policy` asked for one) on each.
    func tags(nonce: String?) -> String {
        nonce == nil ? plainTags : Self.tags(configJSON: configJSON, nonce: nonce)
    }

    private static func tags(configJSON: String, nonce: String?) -> String {
        let attributes = nonce.map { "data-gatehouse nonce=\"\($0)\"" } ?? "data-gatehouse"
        return "<script \(attributes)>window.__MIXPEEK__=\(configJSON)</script><script \(attributes) src=\"/_auth/sdk.js\"></script>"
    }

    static func configJSON(_ app: AppConfiguration) -> String {
        let auth = app.auth
        var json = "{\"appId\":"
        appendString(app.id, to: &json)
        json += ",\"auth\":{\"mode\":"
        appendString(auth.mode.rawValue, to: &json)
        if auth.mode == .clerk {
            if let key = auth.publishableKey {
                json += ",\"publishableKey\":"
                appendString(key, to: &json)
            }
            let host = auth.publishableKey.flatMap(ClerkPublishableKey.frontendAPIHost)
            if let host {
                json += ",\"frontendApi\":"
                appendString(host, to: &json)
            }
            // clerk-js v6 with its separate UI bundle, from the frontend API host (SPEC);
            // a configured `clerk_js_url` (self-hosting, tests) brings its own UI.
            if let url = auth.clerkJSURL ?? host.map({ "https://\($0)/npm/@clerk/clerk-js@6/dist/clerk.browser.js" }) {
                json += ",\"clerkJSURL\":"
                appendString(url, to: &json)
            }
            if auth.clerkJSURL == nil, let host {
                json += ",\"clerkUIURL\":"
                appendString("https://\(host)/npm/@clerk/ui@1/dist/ui.browser.js", to: &json)
            }
        }
        json += ",\"allowedProviders\":["
        for (i, provider) in auth.allowedProviders.enumerated() {
            if i > 0 { json += "," }
            appendString(provider, to: &json)
        }
        json += "]}}"
        return json
    }

    /// A JSON string literal (RFC 8259 §7) that cannot end the script element or the
    /// inline script around it: `<`, `>` and `&` as `\u003c` `\u003e` `\u0026` (no
    /// `</script>`, `<!--` or entity), U+2028/U+2029 as `\u2028`/`\u2029` (line
    /// terminators to pre-ES2019 JavaScript), control characters as `\u00XX`.
    static func appendString(_ value: String, to json: inout String) {
        json += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "<": json += "\\u003c"
            case ">": json += "\\u003e"
            case "&": json += "\\u0026"
            case "\u{2028}": json += "\\u2028"
            case "\u{2029}": json += "\\u2029"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    json.unicodeScalars.append(scalar)
                }
            }
        }
        json += "\""
    }
}
