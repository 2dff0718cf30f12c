/// The browser SDK Gatehouse serves at `GET /_auth/sdk.js` (SPEC "Auth endpoints and the
/// SDK"): `window.MixpeekAuth` with `onReady`, `isSignedIn`, `user`, `showSignIn`,
/// `showSignUp`, `signOut` and `getToken`, and a `fetch` wrapper that adds
/// `Authorization: Bearer <token>` to same-origin calls under `/_api` (unless the caller
/// set `Authorization`).
///
/// It reads `window.__MIXPEEK__` (`{"appId", "auth": {"mode", "publishableKey",
/// "frontendApi", "clerkJSURL", "clerkUIURL", "allowedProviders"}}`), which Gatehouse
/// injects into HTML pages before the SDK's own tag:
/// - `clerk`: loads clerk-js v6 and its separate `@clerk/ui` bundle from the frontend API
///   host (`https://<frontendApi>/npm/@clerk/clerk-js@6/dist/clerk.browser.js` and
///   `.../npm/@clerk/ui@1/dist/ui.browser.js`, the host derived from the publishable key
///   when not given; `clerkJSURL` replaces the first and drops the second unless
///   `clerkUIURL` is set), awaits `Clerk.load()`, and maps `Clerk.user` and
///   `Clerk.session.getToken()`. `allowedProviders` become the `appearance` passed to
///   `openSignIn`/`openSignUp`: every social button is hidden but the allowed ones
///   (`socialButtonsBlockButton__<provider>`), and the email form is hidden unless
///   `email`, `password`, `phone` or `username` is listed. A sign-in or sign-out finished
///   in Clerk's UI reloads the page.
/// - `dev`: a built-in dialog (email and name) that posts `/_auth/dev/token`, keeps the
///   token in `localStorage` and the `__session` cookie, and reloads; the profile comes
///   from `/_auth/me`, or from the token's claims while that endpoint is unavailable.
/// - `jwt` and `none`: no built-in sign-in; a `__session` cookie, when present, is the
///   token, and `/_auth/me` names the user.
///
/// `onReady(cb)` runs `cb(MixpeekAuth)` once the state is known (in a microtask when it
/// already is); sign-in and sign-out reload the page, so it is the only callback an app
/// needs. The script is ES2017 without modules and defines nothing else on `window`.
enum BrowserSDK {
    /// The SDK as Gatehouse serves it: five minutes fresh, then revalidated by `ETag`.
    static let asset = LocalAsset(
        contentType: "application/javascript; charset=utf-8",
        body: source,
        cacheControl: "public, max-age=300, must-revalidate"
    )

    static let source = #"""
    /* Gatehouse browser SDK, served by Gatehouse at /_auth/sdk.js. Defines window.MixpeekAuth. */
    (function () {
      'use strict';
      if (window.MixpeekAuth && window.MixpeekAuth.__gatehouse) { return; }

      var config = window.__MIXPEEK__ || {};
      var auth = config.auth || {};
      var mode = auth.mode || 'none';
      var apiPrefix = typeof config.apiPrefix === 'string' && config.apiPrefix ? config.apiPrefix.replace(/\/+$/, '') : '/_api';
      var DEV_STORAGE_KEY = 'gatehouse.dev.session';
      var FORM_PROVIDERS = ['email', 'password', 'phone', 'username'];
      var nativeFetch = window.fetch ? window.fetch.bind(window) : null;

      var ready = false;
      var user = null;
      var leaving = false;
      var waiting = [];
      var resolveReady;
      var readyPromise = new Promise(function (resolve) { resolveReady = resolve; });
      var backend;

      function report(error) {
        if (window.console && console.error) { console.error('[MixpeekAuth]', error); }
      }

      function runCallback(cb) {
        try { cb(api); } catch (e) { report(e); }
      }

      function finishInit(profile) {
        if (ready) { return; }
        user = profile ? Object.freeze(profile) : null;
        ready = true;
        resolveReady();
        var callbacks = waiting;
        waiting = [];
        callbacks.forEach(runCallback);
      }

      function reload() {
        leaving = true;
        window.location.reload();
      }

      function cookie(name) {
        var parts = document.cookie ? document.cookie.split(';') : [];
        for (var i = 0; i < parts.length; i++) {
          var part = parts[i].replace(/^\s+/, '');
          if (part.indexOf(name + '=') === 0) { return decodeURIComponent(part.slice(name.length + 1)); }
        }
        return null;
      }

      function setSessionCookie(token, maxAge) {
        var secure = window.location.protocol === 'https:' ? '; Secure' : '';
        document.cookie = '__session=' + (token || '') + '; Path=/; Max-Age=' + Math.max(0, Math.floor(maxAge)) + '; SameSite=Lax' + secure;
      }

      // The payload of a JWT, only to show who is signed in while /_auth/me is not available.
      // Nothing here is trusted for access: Gatehouse verifies every token itself.
      function jwtPayload(token) {
        try {
          var part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
          while (part.length % 4) { part += '='; }
          var binary = atob(part);
          var bytes = new Uint8Array(binary.length);
          for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
          var claims = JSON.parse(new TextDecoder().decode(bytes));
          return claims && typeof claims === 'object' ? claims : null;
        } catch (e) {
          return null;
        }
      }

      function profileFromClaims(claims) {
        if (!claims || typeof claims.sub !== 'string') { return null; }
        var name = claims.name || [claims.given_name, claims.family_name].filter(Boolean).join(' ') || null;
        return { id: claims.sub, email: claims.email || null, name: name, avatar_url: claims.picture || claims.image_url || null };
      }

      function profileFromMe(body) {
        if (!body || typeof body.id !== 'string') { return null; }
        return { id: body.id, email: body.email || null, name: body.name || null, avatar_url: body.avatar_url || null };
      }

      // GET /_auth/me: a profile, 'unauthenticated' (401: the token is not valid here), or
      // 'unavailable' (no such endpoint, network error, anything that is not its JSON).
      function fetchMe(token) {
        if (!nativeFetch) { return Promise.resolve('unavailable'); }
        var headers = token ? { Authorization: 'Bearer ' + token } : {};
        return nativeFetch('/_auth/me', { headers: headers, credentials: 'same-origin', cache: 'no-store' })
          .then(function (response) {
            if (response.status === 401) { return 'unauthenticated'; }
            var type = response.headers.get('content-type') || '';
            if (!response.ok || type.indexOf('json') < 0) { return 'unavailable'; }
            return response.json().then(function (body) { return profileFromMe(body) || 'unavailable'; });
          })
          .catch(function () { return 'unavailable'; });
      }

      // ---- dev mode: Gatehouse's own issuer and a minimal sign-in dialog ----

      function readDevSession() {
        var session = null;
        try { session = JSON.parse(window.localStorage.getItem(DEV_STORAGE_KEY) || 'null'); } catch (e) { session = null; }
        if (!session || typeof session.token !== 'string') {
          var fromCookie = cookie('__session');
          var claims = fromCookie ? jwtPayload(fromCookie) : null;
          session = claims && typeof claims.exp === 'number' ? { token: fromCookie, expires_at: claims.exp } : null;
        }
        if (session && !(typeof session.expires_at === 'number' && session.expires_at * 1000 > Date.now())) {
          clearDevSession();
          session = null;
        }
        return session;
      }

      function saveDevSession(session) {
        try { window.localStorage.setItem(DEV_STORAGE_KEY, JSON.stringify(session)); } catch (e) { /* storage blocked: the cookie still works */ }
        setSessionCookie(session.token, session.expires_at - Date.now() / 1000);
      }

      function clearDevSession() {
        try { window.localStorage.removeItem(DEV_STORAGE_KEY); } catch (e) { /* nothing stored */ }
        setSessionCookie('', 0);
      }

      function element(tag, attributes, text) {
        var node = document.createElement(tag);
        for (var name in attributes) {
          if (Object.prototype.hasOwnProperty.call(attributes, name)) { node.setAttribute(name, attributes[name]); }
        }
        if (text) { node.textContent = text; }
        return node;
      }

      function field(label, attributes) {
        var wrapper = element('label', {}, label);
        wrapper.style.cssText = 'display:flex;flex-direction:column;gap:.25rem;font-weight:600';
        var input = element('input', attributes);
        input.style.cssText = 'font:inherit;font-weight:400;padding:.5rem;border:1px solid #cbd5e1;border-radius:6px';
        wrapper.appendChild(input);
        return { wrapper: wrapper, input: input };
      }

      function openDevDialog(kind) {
        if (document.querySelector('[data-gatehouse-dialog]')) { return; }
        var signUp = kind === 'signUp';
        var overlay = element('div', { 'data-gatehouse-dialog': kind, role: 'dialog', 'aria-modal': 'true', 'aria-label': signUp ? 'Sign up' : 'Sign in' });
        overlay.style.cssText = 'position:fixed;inset:0;z-index:2147483647;display:flex;align-items:center;justify-content:center;' +
          'background:rgba(15,23,42,.45);font:15px/1.4 system-ui,sans-serif';
        var form = element('form', { novalidate: '' });
        form.style.cssText = 'background:#fff;color:#0f172a;padding:1.5rem;border-radius:12px;width:20rem;max-width:90vw;' +
          'box-shadow:0 10px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;gap:.75rem';
        var title = element('h2', {}, signUp ? 'Sign up' : 'Sign in');
        title.style.cssText = 'margin:0;font-size:1.25rem';
        var note = element('p', {}, 'Development sign-in: any email address works. Tokens come from this Gatehouse\u2019s dev issuer.');
        note.style.cssText = 'margin:0;color:#475569;font-size:.875rem';
        var email = field('Email', { type: 'email', name: 'email', autocomplete: 'email', required: '', placeholder: 'you@example.com' });
        var name = field('Name', { type: 'text', name: 'name', autocomplete: 'name', placeholder: 'Ada Lovelace' });
        var error = element('p', { role: 'alert', 'data-gatehouse-error': '' });
        error.style.cssText = 'margin:0;color:#b91c1c;font-size:.875rem;min-height:1em';
        var buttons = element('div', {});
        buttons.style.cssText = 'display:flex;gap:.5rem;justify-content:flex-end';
        var cancel = element('button', { type: 'button', 'data-gatehouse-cancel': '' }, 'Cancel');
        var submit = element('button', { type: 'submit', 'data-gatehouse-submit': '' }, signUp ? 'Sign up' : 'Sign in');
        [cancel, submit].forEach(function (button) { button.style.cssText = 'font:inherit;padding:.45rem .9rem;border-radius:6px;border:1px solid #cbd5e1;cursor:pointer'; });
        submit.style.background = '#0f172a';
        submit.style.color = '#fff';
        buttons.appendChild(cancel);
        buttons.appendChild(submit);
        [title, note, email.wrapper, name.wrapper, error, buttons].forEach(function (node) { form.appendChild(node); });
        overlay.appendChild(form);

        function close() {
          document.removeEventListener('keydown', onKey, true);
          if (overlay.parentNode) { overlay.parentNode.removeChild(overlay); }
        }
        function onKey(event) { if (event.key === 'Escape') { close(); } }

        form.addEventListener('submit', function (event) {
          event.preventDefault();
          var address = email.input.value.trim();
          if (!/^[^\s@<>]+@[^\s@<>]+$/.test(address)) {
            error.textContent = 'Enter an email address.';
            email.input.focus();
            return;
          }
          submit.disabled = true;
          error.textContent = '';
          nativeFetch('/_auth/dev/token', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ email: address, name: name.input.value.trim() }),
            credentials: 'same-origin',
            cache: 'no-store'
          }).then(function (response) {
            return response.json().catch(function () { return {}; }).then(function (body) {
              if (!response.ok || typeof body.token !== 'string' || typeof body.expires_at !== 'number') {
                throw new Error(body.reason || body.error || ('HTTP ' + response.status));
              }
              saveDevSession({ token: body.token, expires_at: body.expires_at });
              close();
              reload();
            });
          }).catch(function (e) {
            error.textContent = 'Sign-in failed: ' + (e && e.message ? e.message : e);
            submit.disabled = false;
          });
        });
        cancel.addEventListener('click', close);
        document.addEventListener('keydown', onKey, true);
        (document.body || document.documentElement).appendChild(overlay);
        email.input.focus();
      }

      function devBackend() {
        var session = readDevSession();
        return {
          init: function () {
            if (!session) { return Promise.resolve(null); }
            return fetchMe(session.token).then(function (result) {
              if (result === 'unauthenticated') {
                // Not valid here any more (a new dev key after a restart): signed out.
                clearDevSession();
                session = null;
                return null;
              }
              return result === 'unavailable' ? profileFromClaims(jwtPayload(session.token)) : result;
            });
          },
          token: function () {
            return Promise.resolve(session && session.expires_at * 1000 > Date.now() ? session.token : null);
          },
          show: function (kind) { openDevDialog(kind); },
          signOut: function () {
            clearDevSession();
            session = null;
            return Promise.resolve();
          }
        };
      }

      // ---- clerk mode: clerk-js (v6) and its UI bundle from the instance's frontend API ----

      function frontendApiFromKey(key) {
        var match = /^pk_(?:test|live)_([A-Za-z0-9+/=_-]+)$/.exec(key || '');
        if (!match) { return null; }
        try {
          var encoded = match[1].replace(/-/g, '+').replace(/_/g, '/');
          while (encoded.length % 4) { encoded += '='; }
          var decoded = atob(encoded);
          return decoded.charAt(decoded.length - 1) === '$' ? decoded.slice(0, -1) : null;
        } catch (e) {
          return null;
        }
      }

      function loadScript(src, publishableKey) {
        return new Promise(function (resolve, reject) {
          var script = document.createElement('script');
          script.async = true;
          script.crossOrigin = 'anonymous';
          if (publishableKey) { script.setAttribute('data-clerk-publishable-key', publishableKey); }
          script.addEventListener('load', function () { resolve(); });
          script.addEventListener('error', function () { reject(new Error('could not load ' + src)); });
          script.src = src;
          (document.head || document.documentElement).appendChild(script);
        });
      }

      function startClerk(clerk) {
        if (clerk.loaded) { return Promise.resolve(clerk); }
        var options = {};
        // clerk-js v6 renders its components with the separately loaded @clerk/ui bundle.
        if (typeof window.__internal_ClerkUICtor === 'function') { options.ui = { ClerkUI: window.__internal_ClerkUICtor }; }
        return Promise.resolve(clerk.load(options)).then(function () { return clerk; });
      }

      function loadClerk() {
        if (window.Clerk && typeof window.Clerk.load === 'function') { return startClerk(window.Clerk); }
        var key = auth.publishableKey || null;
        var host = auth.frontendApi || frontendApiFromKey(key);
        var jsURL = auth.clerkJSURL || (host ? 'https://' + host + '/npm/@clerk/clerk-js@6/dist/clerk.browser.js' : null);
        // A self-hosted clerk-js (clerkJSURL) brings its own UI unless clerkUIURL names one.
        var uiURL = auth.clerkUIURL || (!auth.clerkJSURL && host ? 'https://' + host + '/npm/@clerk/ui@1/dist/ui.browser.js' : null);
        if (!jsURL) { return Promise.reject(new Error('clerk mode needs a publishable key')); }
        var scripts = [loadScript(jsURL, key)];
        if (uiURL) { scripts.push(loadScript(uiURL, key)); }
        return Promise.all(scripts).then(function () {
          if (!window.Clerk || typeof window.Clerk.load !== 'function') { throw new Error('clerk-js did not define window.Clerk'); }
          return startClerk(window.Clerk);
        });
      }

      function profileFromClerk(clerkUser) {
        if (!clerkUser || typeof clerkUser.id !== 'string') { return null; }
        var primary = clerkUser.primaryEmailAddress;
        var name = clerkUser.fullName || [clerkUser.firstName, clerkUser.lastName].filter(Boolean).join(' ') || clerkUser.username || null;
        return { id: clerkUser.id, email: (primary && primary.emailAddress) || null, name: name, avatar_url: clerkUser.imageUrl || null };
      }

      // allowedProviders → Clerk appearance: every social button is hidden except the allowed
      // ones (the provider-specific element style is applied after the generic one), and the
      // email/password form is hidden when none of its methods is allowed.
      function providerAppearance() {
        var providers = (Array.isArray(auth.allowedProviders) ? auth.allowedProviders : []).filter(function (p) {
          return typeof p === 'string' && /^[a-z0-9_]+$/.test(p);
        });
        if (!providers.length) { return null; }
        var elements = { socialButtonsBlockButton: { display: 'none' }, socialButtonsIconButton: { display: 'none' } };
        var formAllowed = false;
        providers.forEach(function (provider) {
          if (FORM_PROVIDERS.indexOf(provider) >= 0) { formAllowed = true; return; }
          var id = provider.replace(/^oauth_/, '');
          elements['socialButtonsBlockButton__' + id] = { display: 'flex' };
          elements['socialButtonsIconButton__' + id] = { display: 'inline-flex' };
        });
        if (!formAllowed) {
          elements.dividerRow = { display: 'none' };
          elements.form = { display: 'none' };
        }
        return { elements: elements };
      }

      function clerkOptions(kind, extra) {
        var here = window.location.href;
        var options = { forceRedirectUrl: here };
        options[kind === 'signUp' ? 'signInForceRedirectUrl' : 'signUpForceRedirectUrl'] = here;
        var appearance = providerAppearance();
        if (appearance) { options.appearance = appearance; }
        if (extra && typeof extra === 'object') {
          for (var name in extra) {
            if (Object.prototype.hasOwnProperty.call(extra, name)) { options[name] = extra[name]; }
          }
        }
        return options;
      }

      function clerkBackend() {
        var clerk = null;
        return {
          init: function () {
            return loadClerk().then(function (loaded) {
              clerk = loaded;
              var signedIn = !!loaded.user;
              if (typeof loaded.addListener === 'function') {
                // A sign-in or sign-out finished in Clerk's own UI: start over with the new state.
                loaded.addListener(function (resources) {
                  if (!resources || resources.user === undefined) { return; }
                  if (ready && !leaving && !!resources.user !== signedIn) { reload(); }
                });
              }
              return profileFromClerk(loaded.user);
            });
          },
          token: function () {
            if (!clerk || !clerk.session) { return Promise.resolve(null); }
            return Promise.resolve(clerk.session.getToken()).then(function (token) { return token || null; });
          },
          show: function (kind, extra) {
            if (!clerk) { report('clerk-js is not loaded'); return; }
            if (kind === 'signUp') { clerk.openSignUp(clerkOptions(kind, extra)); } else { clerk.openSignIn(clerkOptions(kind, extra)); }
          },
          signOut: function () {
            leaving = true;
            return clerk ? Promise.resolve(clerk.signOut({ redirectUrl: window.location.href })) : Promise.resolve();
          }
        };
      }

      // ---- jwt / none: tokens come from elsewhere; a __session cookie is used when present ----

      function cookieBackend() {
        return {
          init: function () {
            if (mode === 'none' && !cookie('__session')) { return Promise.resolve(null); }
            return fetchMe(null).then(function (result) { return typeof result === 'object' ? result : null; });
          },
          token: function () { return Promise.resolve(cookie('__session')); },
          show: function () { report('auth mode "' + mode + '" has no built-in sign-in'); },
          signOut: function () {
            setSessionCookie('', 0);
            return Promise.resolve();
          }
        };
      }

      // ---- the public API ----

      var api = {
        __gatehouse: true,
        version: '1',
        get mode() { return mode; },
        get isReady() { return ready; },
        get isSignedIn() { return user !== null; },
        get user() { return user; },
        onReady: function (cb) {
          if (typeof cb !== 'function') { return; }
          if (ready) { Promise.resolve().then(function () { runCallback(cb); }); } else { waiting.push(cb); }
        },
        showSignIn: function (options) {
          readyPromise.then(function () { backend.show('signIn', options); });
        },
        showSignUp: function (options) {
          readyPromise.then(function () { backend.show('signUp', options); });
        },
        signOut: function () {
          return readyPromise
            .then(function () { return backend.signOut(); })
            .catch(report)
            .then(reload);
        },
        getToken: function () {
          return readyPromise
            .then(function () { return backend.token(); })
            .catch(function (e) { report(e); return null; });
        }
      };

      function isAPIRequest(url) {
        try {
          var target = new URL(url, window.location.href);
          if (target.origin !== window.location.origin) { return false; }
          return target.pathname === apiPrefix || target.pathname.indexOf(apiPrefix + '/') === 0;
        } catch (e) {
          return false;
        }
      }

      // Same-origin calls under /_api carry the bearer token unless the caller set Authorization.
      if (nativeFetch) {
        window.fetch = function (input, init) {
          var isRequest = typeof Request !== 'undefined' && input instanceof Request;
          var url = isRequest ? input.url : String(input);
          if (!isAPIRequest(url)) { return nativeFetch(input, init); }
          var headers = new Headers(init && init.headers !== undefined ? init.headers : (isRequest ? input.headers : undefined));
          if (headers.has('authorization')) { return nativeFetch(input, init); }
          return api.getToken().then(function (token) {
            if (!token) { return nativeFetch(input, init); }
            headers.set('Authorization', 'Bearer ' + token);
            var next = {};
            if (init) { for (var name in init) { next[name] = init[name]; } }
            next.headers = headers;
            return nativeFetch(input, next);
          });
        };
      }

      window.MixpeekAuth = api;

      backend = mode === 'clerk' ? clerkBackend() : mode === 'dev' ? devBackend() : cookieBackend();
      Promise.resolve()
        .then(function () { return backend.init(); })
        .then(finishInit, function (e) { report(e); finishInit(null); });
    })();
    """#
}
