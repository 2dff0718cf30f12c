import Foundation
import GatehouseAuth
import GatehouseCore
import GatehouseProxy
import GatehouseTesting
import Testing

/// The browser SDK in a real headless Chromium, through a real Gatehouse: `onReady`,
/// sign-in (dev dialog; a clerk-js stand-in), `user`, `/_api` calls that carry the token
/// while the API upstream sees only the owner key, and sign-out.
///
/// The dev-mode page carries the two `data-gatehouse` tags itself (as a page behind an
/// earlier sidecar would), so that test also checks Gatehouse does not inject them a second
/// time; the clerk-mode page has none and runs on what Gatehouse injects.
@Suite(.serialized) struct BrowserSDKTests {
    /// A page written against the SDK: it shows the state `onReady` reports and the
    /// answer to `fetch('/_api/hello')`, and has sign-in and sign-out buttons. With
    /// `config`, the page brings its own SDK tags; without, Gatehouse must inject them.
    static func page(config: JSONValue?) -> String {
        let tags = config.map {
            let json = StrictJSON.serialize($0).replacingOccurrences(of: "<", with: "\\u003c")
            return #"<script data-gatehouse>window.__MIXPEEK__=\#(json)</script><script data-gatehouse src="/_auth/sdk.js"></script>"#
        } ?? ""
        return """
        <!doctype html>
        <html><head>\(tags)
        <meta charset="utf-8"><title>SDK test page</title></head>
        <body>
        <p id="state">loading</p><p id="email"></p><pre id="api"></pre>
        <button id="signin">Sign in</button> <button id="signout">Sign out</button>
        <script>
        window.__readyCalls = 0;
        MixpeekAuth.onReady(function (auth) {
          window.__readyCalls++;
          document.getElementById('state').textContent = auth.isSignedIn ? 'signed-in' : 'signed-out';
          document.getElementById('email').textContent = auth.user ? auth.user.email : '';
          fetch('/_api/hello').then(function (r) {
            return r.text().then(function (t) { document.getElementById('api').textContent = r.status + ' ' + t; });
          });
        });
        document.getElementById('signin').onclick = function () { MixpeekAuth.showSignIn(); };
        document.getElementById('signout').onclick = function () { MixpeekAuth.signOut(); };
        </script>
        </body></html>
        """
    }

    /// The app upstream: the test page at `/`, plain text elsewhere.
    static func appUpstream(_ html: String) async throws -> TestHTTPServer {
        try await TestHTTPServer.start { request in
            if request.path == "/" {
                return .fixed(headers: [("Content-Type", "text/html; charset=utf-8")], body: html)
            }
            return .fixed(headers: [("Content-Type", "text/plain")], body: "app:" + request.path)
        }
    }

    /// The API upstream: says who Gatehouse named and whether it got the owner key.
    static func apiUpstream() async throws -> TestHTTPServer {
        try await TestHTTPServer.start { request in
            let user = request.headers.first(name: "x-gatehouse-user") ?? ""
            let owner = request.headers.first(name: "authorization") == "Bearer " + TestGatehouse.ownerKey
            return .fixed(headers: [("Content-Type", "application/json")],
                          body: StrictJSON.serialize(["user": .string(user), "owner_key": .bool(owner)]))
        }
    }

    static func string(_ value: JSONValue) -> String? { value.stringValue }

    @Test func devModeSignInCallSignOut() async throws {
        let api = try await Self.apiUpstream()
        let app = try await Self.appUpstream(Self.page(config: ["appId": "app_test", "auth": ["mode": "dev"]]))
        var auth = AuthConfiguration()
        auth.mode = .dev
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(appUpstream: app.url, apiUpstream: api.url, auth: auth))
        let browser = try await WebDriverBrowser.start()
        do {
            try await browser.navigate("http://127.0.0.1:\(gatehouse.port)/")

            // Signed out: onReady fires once, and /_api is refused without a token.
            try await browser.waitUntil("document.getElementById('state').textContent === 'signed-out'")
            #expect(try await browser.execute("return [window.__readyCalls, MixpeekAuth.isSignedIn, MixpeekAuth.user];") == [1, false, nil])
            let refused = try await browser.waitUntil("document.getElementById('api').textContent")
            #expect(Self.string(refused)?.hasPrefix("401 ") == true, "\(refused)")
            #expect(try await browser.execute("return document.querySelectorAll('script[data-gatehouse]').length;") == 2)
            #expect(api.requests.isEmpty)

            // onReady after readiness still runs, asynchronously.
            let late = try await browser.executeAsync("""
                var done = arguments[0], sync = true;
                MixpeekAuth.onReady(function (a) { done([sync, a === MixpeekAuth]); });
                sync = false;
                """)
            #expect(late == [false, true])

            // Sign in through the dev dialog.
            try await browser.click("#signin")
            try await browser.waitUntil("document.querySelector('[data-gatehouse-dialog] input[name=email]')")
            try await browser.type("[data-gatehouse-dialog] input[name=email]", "ada@example.com")
            try await browser.type("[data-gatehouse-dialog] input[name=name]", "Ada Lovelace")
            try await browser.click("[data-gatehouse-dialog] [data-gatehouse-submit]")

            // The page reloads signed in; its /_api call carried the token.
            try await browser.waitUntil("document.getElementById('email').textContent === 'ada@example.com'")
            #expect(try await browser.execute("return document.getElementById('state').textContent;") == "signed-in")
            let user = try await browser.execute("return MixpeekAuth.user;")
            let id = try #require(user.objectValue?["id"]?.stringValue)
            #expect(id == DevIssuer.subject(forEmail: "ada@example.com"))
            #expect(user.objectValue?["name"] == "Ada Lovelace")
            #expect(user.objectValue?["avatar_url"] == .null)
            let answered = try await browser.waitUntil("document.getElementById('api').textContent.indexOf('200 ') === 0 && document.getElementById('api').textContent")
            #expect(Self.string(answered)?.contains(#""owner_key":true"#) == true)
            #expect(Self.string(answered)?.contains(#""user":"\#(id)""#) == true)

            let token = try #require(try await browser.executeAsync("MixpeekAuth.getToken().then(arguments[0]);").stringValue)
            #expect(token.split(separator: ".").count == 3)
            #expect(try await browser.execute("return document.cookie.indexOf('__session=') >= 0;") == true)
            let forwarded = try #require(api.requests.last)
            #expect(forwarded.headers["authorization"] == ["Bearer " + TestGatehouse.ownerKey])
            #expect(!api.requests.contains { $0.headers.first(name: "authorization")?.contains(token) == true })

            // The caller's own Authorization wins; paths outside /_api get no token.
            let own = try await browser.executeAsync("""
                fetch('/_api/hello', {headers: {Authorization: 'Bearer not-a-token'}})
                  .then(function (r) { return r.status; }).then(arguments[0]);
                """)
            #expect(own == 401)
            let outside = try await browser.executeAsync("fetch('/elsewhere').then(function (r) { return r.text(); }).then(arguments[0]);")
            #expect(outside == "app:/elsewhere")
            let appRequest = try #require(app.requests.last { $0.path == "/elsewhere" })
            #expect(appRequest.headers["authorization"].isEmpty)

            // Sign out: reloads signed out, the token is gone.
            try await browser.click("#signout")
            try await browser.waitUntil("document.getElementById('state').textContent === 'signed-out'")
            #expect(try await browser.execute("return [MixpeekAuth.isSignedIn, localStorage.length, document.cookie.indexOf('__session=') >= 0];") == [false, 0, false])
            let after = try await browser.waitUntil("document.getElementById('api').textContent")
            #expect(Self.string(after)?.hasPrefix("401 ") == true, "\(after)")
            #expect(try await browser.executeAsync("MixpeekAuth.getToken().then(arguments[0]);") == .null)
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
        await gatehouse.stop()
        await app.stop()
        await api.stop()
    }

    /// A stand-in for clerk-js (the real one needs Clerk's servers): `window.Clerk` with
    /// `load`, `user`, `session.getToken`, `addListener`, `openSignIn`/`openSignUp` and
    /// `signOut`. "Signing in" is instant and kept in `localStorage`; what the SDK passed
    /// is recorded in `sessionStorage` so it survives the reloads.
    static func clerkStandIn(token: String) -> String {
        """
        (function () {
          var script = document.currentScript;
          var record = function (key, value) { sessionStorage.setItem('standin.' + key, JSON.stringify(value === undefined ? null : value)); };
          record('publishableKey', script && script.getAttribute('data-clerk-publishable-key'));
          var listeners = [];
          var clerk = { loaded: false, user: null, session: null };
          function apply() {
            var signedIn = localStorage.getItem('standin.signedIn') === '1';
            clerk.user = signedIn ? { id: 'user_clerk_1', primaryEmailAddress: { emailAddress: 'grace@example.com' },
              fullName: 'Grace Hopper', imageUrl: 'https://img.example/grace.png' } : null;
            clerk.session = signedIn ? { getToken: function () { return Promise.resolve('\(token)'); } } : null;
          }
          function emit() { listeners.forEach(function (cb) { cb({ user: clerk.user, session: clerk.session }); }); }
          clerk.load = function (options) {
            record('loadOptions', options || {});
            return new Promise(function (resolve) { setTimeout(function () { apply(); clerk.loaded = true; resolve(); }, 30); });
          };
          clerk.addListener = function (cb) { listeners.push(cb); cb({ user: clerk.user, session: clerk.session }); return function () {}; };
          clerk.openSignIn = function (options) {
            record('signInOptions', options);
            localStorage.setItem('standin.signedIn', '1');
            setTimeout(function () { apply(); emit(); }, 30);
          };
          clerk.openSignUp = function (options) { record('signUpOptions', options); };
          clerk.signOut = function (options) {
            record('signOutOptions', options);
            localStorage.removeItem('standin.signedIn');
            apply();
            emit();
            return Promise.resolve();
          };
          window.Clerk = clerk;
        })();
        """
    }

    @Test func clerkModeWithAClerkJSStandIn() async throws {
        let key = try TestKey.generate(.rsa2048, kid: "clerk-sdk")
        let now = Date().timeIntervalSince1970
        let token = TokenFactory.token(key: key, claims: TokenFactory.claims(
            sub: "user_clerk_1", now: now, ttl: 600, iss: "https://clerk.gatehouse.test", extra: ["sid": "sess_1"]))
        let standInJS = Self.clerkStandIn(token: token)
        let clerkHost = try await TestHTTPServer.start { request in
            guard request.path == "/npm/@clerk/clerk-js@6/dist/clerk.browser.js" else { return .fixed(status: .notFound, body: "") }
            // Real clerk-js is served with CORS, which a crossorigin script needs.
            return .fixed(headers: [("Content-Type", "application/javascript"), ("Access-Control-Allow-Origin", "*")], body: standInJS)
        }
        let publishableKey = "pk_test_" + Data("clerk.gatehouse.test$".utf8).base64EncodedString()
        let clerkJSURL = clerkHost.url + "/npm/@clerk/clerk-js@6/dist/clerk.browser.js"
        let api = try await Self.apiUpstream()
        let app = try await Self.appUpstream(Self.page(config: nil))
        var auth = AuthConfiguration()
        auth.mode = .clerk
        auth.publishableKey = publishableKey
        auth.jwtKey = key.publicKeyPEM  // Clerk's keys, with no network
        auth.clerkJSURL = clerkJSURL
        auth.allowedProviders = ["google", "github"]
        let gatehouse = try await TestGatehouse.start(TestGatehouse.configuration(appUpstream: app.url, apiUpstream: api.url, auth: auth))
        let browser = try await WebDriverBrowser.start()
        do {
            try await browser.navigate("http://127.0.0.1:\(gatehouse.port)/")
            try await browser.waitUntil("document.getElementById('state').textContent === 'signed-out'")
            #expect(clerkHost.requests.count == 1, "clerk-js is loaded from auth.clerk_js_url")
            #expect(try await browser.execute("return document.querySelectorAll('script[data-gatehouse]').length;") == 2, "injected")
            #expect(try await browser.execute("return sessionStorage.getItem('standin.publishableKey');") == .string(StrictJSON.serialize(.string(publishableKey))))
            #expect(try await browser.execute("return [window.__readyCalls, MixpeekAuth.isSignedIn, MixpeekAuth.user];") == [1, false, nil])
            let refused = try await browser.waitUntil("document.getElementById('api').textContent")
            #expect(Self.string(refused)?.hasPrefix("401 ") == true, "\(refused)")

            // Sign in through Clerk: allowedProviders shape the modal's appearance.
            try await browser.click("#signin")
            try await browser.waitUntil("document.getElementById('email').textContent === 'grace@example.com'")
            let options = try await browser.execute("return JSON.parse(sessionStorage.getItem('standin.signInOptions'));")
            let elements = try #require(options.objectValue?["appearance"]?.objectValue?["elements"]?.objectValue)
            #expect(elements["socialButtonsBlockButton"] == ["display": "none"])
            #expect(elements["socialButtonsIconButton"] == ["display": "none"])
            #expect(elements["socialButtonsBlockButton__google"] == ["display": "flex"])
            #expect(elements["socialButtonsBlockButton__github"] == ["display": "flex"])
            #expect(elements["socialButtonsBlockButton__apple"] == nil)
            #expect(elements["form"] == ["display": "none"], "no email sign-in when email is not an allowed provider")
            #expect(options.objectValue?["forceRedirectUrl"] == .string("http://127.0.0.1:\(gatehouse.port)/"))

            #expect(try await browser.execute("return MixpeekAuth.user;") == [
                "id": "user_clerk_1", "email": "grace@example.com", "name": "Grace Hopper", "avatar_url": "https://img.example/grace.png",
            ])
            let answered = try await browser.waitUntil("document.getElementById('api').textContent.indexOf('200 ') === 0 && document.getElementById('api').textContent")
            #expect(Self.string(answered)?.contains(#""user":"user_clerk_1""#) == true)
            #expect(Self.string(answered)?.contains(#""owner_key":true"#) == true)
            #expect(try await browser.executeAsync("MixpeekAuth.getToken().then(arguments[0]);") == .string(token))
            #expect(api.requests.allSatisfy { $0.headers["authorization"] == ["Bearer " + TestGatehouse.ownerKey] })

            // Sign out through Clerk, then the page reloads signed out.
            try await browser.click("#signout")
            try await browser.waitUntil("document.getElementById('state').textContent === 'signed-out' && sessionStorage.getItem('standin.signOutOptions')")
            #expect(try await browser.execute("return MixpeekAuth.isSignedIn;") == false)
            let after = try await browser.waitUntil("document.getElementById('api').textContent")
            #expect(Self.string(after)?.hasPrefix("401 ") == true, "\(after)")
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
        await gatehouse.stop()
        await app.stop()
        await api.stop()
        await clerkHost.stop()
    }
}
