# The upstream of scripts/fuzz-exchanges.sh: answers each request as its `X-Want` field says
# (status, framing, length, HTML, gzip, extra fields, a 103 first, `Connection: close`, cut
# short, answered before reading the body, paused between writes), in writes of random
# sizes, with a body that starts with a digest of what it received: method, target, body
# hash and length, `X-Fz` values, `Authorization`.
#
#   upstream.py PORT [LOG]      LOG: every /_api target received, one per line
import asyncio, hashlib, random, sys, gzip
PORT = int(sys.argv[1])
# Every /_api target received, one per line (the metering check compares the meter logs).
LOG = open(sys.argv[2], "a") if len(sys.argv) > 2 else None
def filler(seed, n):
    out = bytearray(); i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).hexdigest().encode(); i += 1
    return bytes(out[:n])
async def read_body(r, f):
    body = b""
    if b"transfer-encoding" in f:
        assert f[b"transfer-encoding"] == [b"chunked"], f[b"transfer-encoding"]
        assert b"content-length" not in f
        while True:
            line = await r.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await r.readuntil(b"\r\n")) != b"\r\n": pass
                break
            body += await r.readexactly(size)
            assert await r.readexactly(2) == b"\r\n"
    elif b"content-length" in f:
        assert len(f[b"content-length"]) == 1
        body = await r.readexactly(int(f[b"content-length"][0]))
    return body
async def respond(w, method, target, f, body):
    want = dict(kv.split("=", 1) for kv in f.get(b"x-want", [b"status=200"])[0].decode().split(";"))
    rng = random.Random(want.get("seed", "0"))
    status = int(want.get("status", "200")); framing = want.get("framing", "cl"); n = int(want.get("len", "10"))
    auth = f.get(b"authorization", [b"-"])[0]; xfz = f.get(b"x-fz", [b"-"])
    bodyhash = "early" if body is None else f"{hashlib.sha1(body).hexdigest()[:12]}|{len(body)}"
    digest = f"{method.decode()}|{target.decode()}|{bodyhash}|{b','.join(xfz).decode()}|{auth.decode()}|".encode()
    payload = digest + filler(want.get("seed", "0"), n)
    html = want.get("html", "0") == "1"; gz = want.get("gzip", "0") == "1"
    if html: payload = b"<!doctype html><html><head><title>t</title></head><body>" + payload + b"</body></html>"
    if gz: payload = gzip.compress(payload, 6, mtime=0)
    reason = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 404: "Not Found", 500: "Internal Server Error"}.get(status, "X")
    ctype = b"text/html; charset=utf-8" if html else b"application/octet-stream"
    v10 = want.get("v10", "0") == "1"
    out = [f"HTTP/1.{0 if v10 else 1} {status} {reason}\r\n".encode(), b"Content-Type: " + ctype + b"\r\n", f"X-Echo: {target.decode()}\r\n".encode()]
    if v10 and want.get("ka", "0") == "1": out.append(b"Connection: keep-alive\r\n")
    if gz: out.append(b"Content-Encoding: gzip\r\n")
    for i in range(int(want.get("extra", "0"))):
        out.append(f"X-R{i % 3}: {'v' * rng.randrange(0, 60)}{i}\r\n".encode())
    close = want.get("uclose", "0") == "1"
    nobody = status in (204, 304) or method == b"HEAD"
    pre = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" if want.get("hint", "0") == "1" else b""
    if nobody:
        if framing == "cl" and status not in (204, 304): out.append(f"Content-Length: {len(payload)}\r\n".encode())
        if close: out.append(b"Connection: close\r\n")
        raw = b"".join(out) + b"\r\n"
    elif framing == "cl":
        out.append(f"Content-Length: {len(payload)}\r\n".encode())
        if close: out.append(b"Connection: close\r\n")
        raw = b"".join(out) + b"\r\n" + payload
    elif framing == "chunked":
        out.append(b"Transfer-Encoding: chunked\r\n")
        if close: out.append(b"Connection: close\r\n")
        raw = b"".join(out) + b"\r\n"; p = payload
        while p:
            k = rng.randrange(1, max(2, len(p) + 1)); raw += f"{k:x}\r\n".encode() + p[:k] + b"\r\n"; p = p[k:]
        raw += b"0\r\nX-Trailer: t\r\n\r\n" if want.get("trailers", "0") == "1" else b"0\r\n\r\n"
    else:
        out.append(b"Connection: close\r\n"); close = True
        raw = b"".join(out) + b"\r\n" + payload
    bad = want.get("bad")
    if bad == "both":
        raw = raw.replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 1); close = True
    elif bad == "chunksize":
        raw = b"".join(out) + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"; close = True
    elif bad == "te":
        raw = b"".join(out) + b"Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"; close = True
    if v10 and want.get("ka", "0") != "1" and not nobody:
        close = True  # HTTP/1.0 without keep-alive: the connection ends with the answer
    if want.get("cut", "0") == "1" and not nobody:
        raw = raw[: len(raw) - max(1, len(payload) // 2)]; close = True
    raw = pre + raw
    # An answer nobody asked for, in the same write as this answer's last bytes (so in the
    # same read at the proxy): it must never reach a client as the answer to its request.
    # (Sent later, on a connection the proxy may have leased again meanwhile, it cannot be
    # told from the next answer — by Gatehouse, nginx or any HTTP/1.1 proxy.)
    poison = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Echo: /poisoned\r\n\r\npoisoned" if want.get("poison", "0") == "1" else b""
    i = 0
    pause = int(want.get("pause", "0")) / 1000
    while i < len(raw):
        k = rng.choice([len(raw), 1, 7, 100, 1000, 5000, 65536])
        last = i + k >= len(raw)
        w.write(raw[i:i + k] + (poison if last else b"")); i += k
        if not last and rng.random() < 0.3: await w.drain(); await asyncio.sleep(pause if pause and rng.random() < 0.3 else 0)
    await w.drain()
    return close, want.get("early", "0") == "1"
async def handle(r, w):
    seen = []
    try:
        while True:
            try:
                head = await r.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head[:-4].split(b"\r\n")
            method, target, version = lines[0].split(b" ")
            f = {}
            for l in lines[1:]:
                nm, v = l.split(b":", 1); f.setdefault(nm.strip().lower(), []).append(v.strip())
            seen.append(target.decode())
            if LOG and (target.startswith(b"/_api/") or target.startswith(b"/b/")):
                LOG.write(target.decode() + "\n"); LOG.flush()
            if b"ws=1" in f.get(b"x-want", [b""])[0] and f.get(b"upgrade", [b""])[0].lower() == b"websocket":
                # A WebSocket upgrade accepted: 101, then every byte echoed until the close.
                import base64
                key = f.get(b"sec-websocket-key", [b""])[0]
                accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
                w.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
                await w.drain()
                while True:
                    data = await r.read(65536)
                    if not data: break
                    w.write(data); await w.drain()
                w.close(); return
            early = b"early=1" in f.get(b"x-want", [b""])[0]
            if early:
                close, _ = await respond(w, method, target, f, None)
                # The body is read even when closing: closing on unread bytes sends a
                # reset, which may destroy the answer before the proxy reads it.
                await read_body(r, f)
                if close: w.close(); return
            else:
                body = await read_body(r, f)
                close, _ = await respond(w, method, target, f, body)
                if close: w.close(); return
    except Exception as e:
        print("upstream error", repr(e), "after", seen, flush=True)
        w.close()
async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", PORT, limit=1 << 20)
    async with s: await s.serve_forever()
asyncio.run(main())
