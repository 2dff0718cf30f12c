import NIOCore
import NIOHTTP1
import NIOPosix

/// The built-in demo app behind `gatehouse demo`: an HTML page at `/` and a small JSON
/// API under `/_api` that reports who Gatehouse said the caller is. A real NIO server on
/// 127.0.0.1, so the demo exercises the same proxy path as production.
public final class DemoUpstream: Sendable {
    public let address: SocketAddress
    private let channel: Channel
    /// The owner key the demo API expects; a request without it is refused, which shows
    /// that only Gatehouse (never the browser) holds it.
    let ownerKey: String

    private init(address: SocketAddress, channel: Channel, ownerKey: String) {
        self.address = address
        self.channel = channel
        self.ownerKey = ownerKey
    }

    public static func start(group: EventLoopGroup, ownerKey: String, host: String = "127.0.0.1", port: Int = 0) async throws -> DemoUpstream {
        let expected = "Bearer " + ownerKey
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(DemoHandler(expectedAuthorization: expected))
                }
            }
            .bind(host: host, port: port).get()
        guard let address = channel.localAddress else { throw DemoError(description: "demo upstream has no address") }
        return DemoUpstream(address: address, channel: channel, ownerKey: ownerKey)
    }

    public func stop() async {
        try? await channel.close()
    }
}

public struct DemoError: Error, CustomStringConvertible {
    public let description: String
}

private final class DemoHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let expectedAuthorization: String
    private var head: HTTPRequestHead?
    private var bodyBytes = 0

    init(expectedAuthorization: String) {
        self.expectedAuthorization = expectedAuthorization
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            bodyBytes = 0
        case .body(let b):
            bodyBytes += b.readableBytes
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, type, body) = respond(head)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private func respond(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, String) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        if path == "/_api" || path.hasPrefix("/_api/") {
            guard head.headers.first(name: "authorization") == expectedAuthorization else {
                return (.unauthorized, "application/json", #"{"error":"the demo API only accepts the owner key"}"#)
            }
            let user = jsonString(head.headers.first(name: "x-gatehouse-user") ?? "")
            let org = jsonString(head.headers.first(name: "x-gatehouse-org") ?? "")
            switch path {
            case "/_api/hello":
                return (.ok, "application/json", #"{"message":"hello from the demo API","user":\#(user),"org":\#(org),"owner_key_received":true}"#)
            case "/_api/echo":
                return (.ok, "application/json", #"{"method":"\#(head.method.rawValue)","body_bytes":\#(bodyBytes),"user":\#(user)}"#)
            default:
                return (.notFound, "application/json", #"{"error":"no such demo endpoint","try":"/_api/hello"}"#)
            }
        }
        if path == "/" || path == "/index.html" {
            return (.ok, "text/html; charset=utf-8", DemoPage.html)
        }
        return (.notFound, "text/plain; charset=utf-8", "not found\n")
    }

    private func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "<": out += "\\u003c"
            default:
                if scalar.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16) }
                else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}

/// The demo's HTML page: a small app written against the browser SDK that Gatehouse
/// injects (`window.MixpeekAuth`). It carries no script tag of its own for the SDK, so it
/// also shows that injection works: without it the page says so.
enum DemoPage {
    static let html = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <title>Gatehouse demo</title>
    <style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}[hidden]{display:none!important}</style>
    </head>
    <body>
    <h1>Gatehouse demo</h1>
    <p>This page comes from the demo app upstream, through Gatehouse, which injected its
    auth SDK. Calls under <code>/_api</code> carry your token; Gatehouse swaps it for the
    owner's key.</p>
    <p id="status">Loading…</p>
    <p><button id="signin" hidden>Sign in</button> <button id="signout" hidden>Sign out</button>
    <button id="call" hidden>Call /_api/hello</button></p>
    <pre id="out"></pre>
    <script>
    (function () {
      var status = document.getElementById('status');
      var out = document.getElementById('out');
      if (!window.MixpeekAuth) {
        status.textContent = 'The Gatehouse SDK was not injected into this page (is inject.enabled off?).';
        return;
      }
      MixpeekAuth.onReady(function (auth) {
        status.textContent = auth.isSignedIn ? 'Signed in as ' + (auth.user.email || auth.user.id) : 'Signed out';
        document.getElementById('signin').hidden = auth.isSignedIn;
        document.getElementById('signout').hidden = !auth.isSignedIn;
        document.getElementById('call').hidden = false;
      });
      document.getElementById('signin').onclick = function () { MixpeekAuth.showSignIn(); };
      document.getElementById('signout').onclick = function () { MixpeekAuth.signOut(); };
      document.getElementById('call').onclick = function () {
        out.textContent = '…';
        fetch('/_api/hello').then(function (r) {
          return r.text().then(function (text) { out.textContent = r.status + ' ' + text; });
        }).catch(function (e) { out.textContent = 'failed: ' + e; });
      };
    })();
    </script>
    </body>
    </html>
    """
}
