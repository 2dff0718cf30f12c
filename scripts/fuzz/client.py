# Randomized request streams through Gatehouse in front of upstream.py (scripts/fuzz-exchanges.sh
# runs both): every response is checked against what the upstream must have answered to
# exactly that request — status, framing, the body's digest of what the upstream received
# (method, path, request body, a client field, the Authorization it saw: the owner key on
# /_api), the injected SDK tag on HTML pages.
#
#   client.py PORT SEED CONNECTIONS ROUNDS TOKEN_FILE OWNER_KEY [API_BODY_LIMIT [OWNER_KEY_B]]
#
# Each of CONNECTIONS threads opens ROUNDS connections in turn; each connection sends up to
# 11 batches of 1-4 pipelined requests, split at random byte boundaries, mixing: app and
# /_api routes, GET/HEAD/POST/PUT/DELETE, Content-Length and chunked bodies up to 400 KB,
# `Expect: 100-continue`, HTTP/1.0, a missing token (401), WebSocket upgrades (accepted:
# a tunnel whose bytes must come back as sent; refused), requests pipelined behind one
# asking for the close (never forwarded), and upstream answers of every
# status/framing (length, chunked, close-delimited; 204/304; 103 first; `Connection: close`;
# cut short; answered before the request body; paused; up to 1.5 MB; HTML, gzip-encoded or
# not), plus slow readers and clients that leave mid-answer.
import socket, random, hashlib, sys, threading, time, gzip
GH = ("127.0.0.1", int(sys.argv[1])); SEED = int(sys.argv[2]); CONNS = int(sys.argv[3]); ROUNDS = int(sys.argv[4])
TOKEN = open(sys.argv[5]).read().strip()
OWNER = sys.argv[6]
import os
POISON = float(os.environ.get("POISON", "0.03"))
API_BODY_LIMIT = int(sys.argv[7]) if len(sys.argv) > 7 else 10485760
OWNER_B = sys.argv[8] if len(sys.argv) > 8 else None
UNKNOWN_KID_TOKEN = open(sys.argv[9]).read().strip() if len(sys.argv) > 9 else None
def filler(seed, n):
    out = bytearray(); i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).hexdigest().encode(); i += 1
    return bytes(out[:n])
failures = []; stats = {"tunnels": 0, "responses": 0, "closes": 0, "cut": 0, "injected": 0, "401": 0, "expect": 0, "early": 0}
lock = threading.Lock()
class Truncated(Exception): pass
class Reader:
    def __init__(s, sock): s.sock = sock; s.buf = b""
    def fill(s):
        d = s.sock.recv(65536)
        if not d: raise EOFError
        s.buf += d
    def line(s):
        while b"\r\n" not in s.buf: s.fill()
        l, s.buf = s.buf.split(b"\r\n", 1); return l
    def exact(s, n):
        while len(s.buf) < n: s.fill()
        d, s.buf = s.buf[:n], s.buf[n:]; return d
    def rest(s):
        try:
            while True: s.fill()
        except EOFError: pass
        d, s.buf = s.buf, b""; return d
def read_head(rd):
    parts = rd.line().split(b" ", 2); version = parts[0]; status = int(parts[1]); h = {}
    while True:
        l = rd.line()
        if not l: break
        n, v = l.split(b":", 1); h.setdefault(n.strip().lower(), []).append(v.strip())
    return version, status, h
def read_response(rd, method, interim=None, first=None):
    while True:
        version, status, h = first if first else read_head(rd)
        first = None
        if 100 <= status < 200:
            if interim is not None: interim.append(status)
            continue
        break
    try:
        if method == "HEAD" or status in (204, 304): body = b""; framing = "none"
        elif b"transfer-encoding" in h:
            assert h[b"transfer-encoding"] == [b"chunked"], h
            assert b"content-length" not in h, h
            body = b""; framing = "chunked"
            while True:
                size = int(rd.line().split(b";")[0], 16)
                if size == 0:
                    while rd.line(): pass
                    break
                body += rd.exact(size); assert rd.exact(2) == b"\r\n"
        elif b"content-length" in h:
            assert len(h[b"content-length"]) == 1, h
            body = rd.exact(int(h[b"content-length"][0])); framing = "cl"
        else:
            body = rd.rest(); framing = "close"
    except EOFError:
        raise Truncated(f"{status} truncated")
    return version, status, h, body, framing
def expected_payload(r, echo):
    body = r["body"]
    bodyhash = "early" if r["early"] else f"{hashlib.sha1(body).hexdigest()[:12]}|{len(body)}"
    auth = f"Bearer {r.get('owner', OWNER)}" if r["api"] else "-"
    p = f"{r['method']}|{echo}|{bodyhash}|{r['fz']}|{auth}|".encode() + filler(r["seed"], r["length"])
    if r["html"]: p = b"<!doctype html><html><head><title>t</title></head><body>" + p + b"</body></html>"
    return p
def check(r, version, status, h, body, framing):
    problems = []
    if r["kind"] == "noauth":
        if status != 401: problems.append(f"status {status} != 401")
        return problems
    if r["kind"] in ("local", "malformed"):
        if status != r["status"]: problems.append(f"status {status} != {r['status']}")
        elif r["path"] == "/_auth/sdk.js" and b"/_auth/" not in body: problems.append(f"sdk body {body[:100]!r}")
        elif r["path"] == "/_auth/me" and status == 200 and b'"user_dev"' not in body: problems.append(f"me body {body[:200]!r}")
        if r["kind"] == "malformed" and h.get(b"connection", [b""])[0].lower() != b"close": problems.append("400 without close")
        return problems
    if r["api"] and len(r["body"]) > API_BODY_LIMIT and not (r["bad"] and status == 502):
        # Refused (413) — unless the upstream answered before the chunked body grew past
        # the limit: then its answer, and the close.
        early_answer = r["early"] and status == r["status"] and h.get(b"connection", [b""])[0].lower() == b"close"
        if status != 413 and not early_answer:
            problems.append(f"status {status} != 413 for a {len(r['body'])}-byte /_api body")
        return problems
    if r["bad"]:
        # A 502 — or, to an HTTP/1.0 client, an answer broken after its head, whose body
        # (delimited by the close) cannot show the cut (as behind nginx).
        if status != 502 and not (r["http10"] and framing == "close"):
            problems.append(f"status {status} != 502 for a malformed upstream answer")
        return problems
    if status != r["status"]:
        if not (r["cut"] and status == 502): problems.append(f"status {status} != {r['status']}")
        return problems
    echo = h.get(b"x-echo", [b"?"])[0].decode()
    if not echo.endswith(r["path"][r["path"].index("/", 1):]): problems.append(f"x-echo {echo} for {r['path']}")
    if r["api"] and r.get("host") == "b.test" and not echo.startswith("/b/"): problems.append(f"b.test's /_api reached {echo}")
    if r["api"] and r.get("host") == "fz.test" and not echo.startswith("/_api/"): problems.append(f"fz.test's /_api reached {echo}")
    if r["http10"] and framing == "chunked": problems.append("chunked to HTTP/1.0")
    if r["method"] == "HEAD" or r["status"] in (204, 304):
        if body: problems.append("body on bodiless response")
        return problems
    if r["cut"]:
        # An HTTP/1.0 client gets a body of unknown length delimited by the close: a cut
        # cannot be told from the end there (as behind nginx).
        if not (r["http10"] and framing == "close"):
            problems.append(f"cut response delivered whole ({framing}, {len(body)} bytes)")
        return problems
    exp = expected_payload(r, echo)
    got = body
    if b"content-encoding" in h:
        try: got = gzip.decompress(got)
        except Exception as e: problems.append(f"gzip: {e!r}"); return problems
    injected = h.get(b"x-gatehouse-injected") == [b"1"]
    should_inject = r["html"] and not r["api"] and r["method"] == "GET" and r["status"] == 200
    if injected != should_inject: problems.append(f"injected={injected} expected {should_inject}")
    if injected:
        with lock: stats["injected"] += 1
        a = got.find(b"<head>") + 6; t = got.find(b"<title>")
        if a < 6 or t < a or b"sdk.js" not in got[a:t]: problems.append(f"no snippet after <head>: {got[:200]!r}")
        else: got = got[:a] + got[t:]
    if got != exp:
        problems.append(f"body mismatch: got {len(got)} {got[:150]!r} expected {len(exp)} {exp[:150]!r}")
    return problems
def make_request(rng, cid, n, last_fz):
    kind = rng.choices(["normal", "noauth", "expect", "local", "malformed", "ws"], [80, 5, 5, 5, 1, 4])[0]
    if kind == "ws":
        # A WebSocket upgrade: accepted by the upstream (then a tunnel, its bytes echoed) or
        # refused (a plain answer, after which the connection ends).
        api = rng.random() < 0.5
        path = f"/_api/{SEED}-{cid}/{n}" if api else f"/app/{SEED}-{cid}/{n}"
        accept = rng.random() < 0.7
        seed = f"{SEED}-{cid}-{n}"
        head = (f"GET {path} HTTP/1.1\r\nHost: fz.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"X-Want: status=200;framing=cl;len=10;seed={seed};ws={int(accept)}\r\nX-Fz: ws\r\n"
                + (f"Authorization: Bearer {TOKEN}\r\n" if api else "") + "\r\n")
        return dict(kind=kind, api=api, method="GET", path=path, status=101 if accept else 200, framing="cl", length=10,
                    html=False, cut=False, early=False, http10=False, bad=False, seed=seed, fz="ws", body=b"",
                    head=head.encode(), wire_body=b"", accept=accept)
    if kind == "local":
        path, expect, token = rng.choice([("/_auth/sdk.js", 200, False), ("/_auth/me", 200, True), ("/_auth/me", 401, False)])
        head = f"GET {path} HTTP/1.1\r\nHost: fz.test\r\n" + (f"Authorization: Bearer {TOKEN}\r\n" if token else "") + "\r\n"
        return dict(kind=kind, api=False, method="GET", path=path, status=expect, framing="", length=0, html=False, cut=False,
                    early=False, http10=False, seed="", fz="", body=b"", head=head.encode(), wire_body=b"")
    if kind == "malformed":
        head = rng.choice([
            "POST /app/x HTTP/1.1\r\nHost: fz.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "POST /app/x HTTP/1.1\r\nHost: fz.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "GET /app/x HTTP/1.1\r\nHost: fz.test\r\nX-Bad : y\r\n\r\n",
            "GET /app/x HTTP/1.1\nHost: fz.test\n\n",
            "GET /app/x HTTP/1.1\r\nHost: fz.test\r\nX-Fold: a\r\n b\r\n\r\n",
        ])
        return dict(kind=kind, api=False, method="GET", path="/malformed", status=400, framing="", length=0, html=False, cut=False,
                    early=False, http10=False, seed="", fz="", body=b"", head=head.encode(), wire_body=b"")
    api = rng.random() < 0.5 or kind == "noauth"
    method = rng.choice(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE"])
    if kind == "expect": method = rng.choice(["POST", "PUT"])
    path = f"/_api/{SEED}-{cid}/{n}" if api else f"/app/{SEED}-{cid}/{n}"
    status = rng.choice([200, 200, 200, 201, 404, 500, 204, 304])
    framing = rng.choice(["cl", "cl", "chunked", "close"])
    length = rng.choices([0, 5, 100, 3000, 20000, 70000, 300000, 1500000], [10, 10, 10, 10, 10, 10, 3, 1])[0]
    html = rng.random() < 0.3; gz = html and rng.random() < 0.4
    cut = rng.random() < 0.04 and framing != "close"
    bad = not cut and method != "HEAD" and status not in (204, 304) and rng.random() < 0.03
    early = method in ("POST", "PUT") and rng.random() < 0.15
    http10 = rng.random() < 0.05
    seed = f"{SEED}-{cid}-{n}"
    opts = f"status={status};framing={framing};len={length};uclose={rng.choice('0001')};seed={seed};extra={rng.randrange(0, 8)}"
    opts += f";html={int(html)};gzip={int(gz)};cut={int(cut)};early={int(early)};hint={int(rng.random() < 0.1)}"
    if rng.random() < 0.2: opts += f";pause={rng.choice([1, 5, 20])}"
    if bad: opts += f";bad={rng.choice(['both', 'chunksize', 'te'])}"
    # HTTP/1.0 answers (with keep-alive or without), beside `Connection: close` too (which
    # llhttp let an HTTP/1.0 `keep-alive` override, until the decoder checked for it).
    if rng.random() < 0.05: opts += f";v10=1;ka={rng.choice('01')}"
    if rng.random() < 0.1: opts += ";trailers=1"
    # (Behind an answer delimited by the close, more bytes are that answer's body.)
    if rng.random() < POISON and framing != "close" and not cut: opts += ";poison=1"
    fz = last_fz if rng.random() < 0.5 else "f" * rng.randrange(0, 200) + str(n)
    # The second app (Host b.test): its own API upstream path and owner key; a request
    # routed to the wrong app would show the other key, or the other path, upstream.
    host, owner = ("b.test", OWNER_B) if OWNER_B and rng.random() < 0.3 else ("fz.test", OWNER)
    head = f"{method} {path} HTTP/1.{0 if http10 else 1}\r\nHost: {host}\r\nX-Want: {opts}\r\nX-Fz: {fz}\r\n"
    if http10 and rng.random() < 0.5: head += "Connection: keep-alive\r\n"
    if api and kind != "noauth":
        # Now and then a token whose kid the JWKS lacks: refetch, wait, 401 (as noauth).
        if UNKNOWN_KID_TOKEN and host == "fz.test" and rng.random() < 0.06:
            kind = "noauth"
            head += f"Authorization: Bearer {UNKNOWN_KID_TOKEN}\r\n"
        else:
            head += f"Authorization: Bearer {TOKEN}\r\n"
    if kind == "expect": head += "Expect: 100-continue\r\n"
    for i in range(rng.randrange(0, 4)): head += f"X-C{i}: {'c' * rng.randrange(0, 100)}\r\n"
    body = b""; wire_body = b""
    if method in ("POST", "PUT"):
        body = filler("b" + seed, rng.choices([0, 1, 50, 5000, 40000, 400000], [10, 10, 10, 10, 10, 2])[0])
        if http10 or rng.random() < 0.5:
            head += f"Content-Length: {len(body)}\r\n"; wire_body = body
        else:
            head += "Transfer-Encoding: chunked\r\n"; p = body
            while p:
                k = rng.randrange(1, len(p) + 1); wire_body += f"{k:x}\r\n".encode() + p[:k] + b"\r\n"; p = p[k:]
            wire_body += b"0\r\n\r\n"
    head += "\r\n"
    return dict(kind=kind, api=api, method=method, path=path, status=status, framing=framing, length=length, html=html,
                cut=cut, early=early, http10=http10, bad=bad, owner=owner, host=host, seed=seed, fz=fz, body=body, head=head.encode(), wire_body=wire_body)
def leftover(s, rd):
    """What the connection had for us when a send met its reset: read, then what is left."""
    got = rd.buf
    try:
        s.settimeout(1); got += s.recv(65536)
    except Exception: pass
    return got
def send_split(s, rng, data):
    i = 0
    while i < len(data):
        k = rng.choice([len(data), 1, 13, 500, 4000])
        s.sendall(data[i:i + k]); i += k
        if rng.random() < 0.2: time.sleep(0.0005)
def conn_worker(cid, rng):
    s = socket.create_connection(GH); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); s.settimeout(20)
    rd = Reader(s); n = 0; last_fz = "x"; hist = []
    try:
        for batch in range(rng.randrange(1, 12)):
            reqs = []
            for _ in range(rng.choice([1, 1, 1, 2, 3, 4])):
                n += 1; r = make_request(rng, cid, n, last_fz); last_fz = r["fz"]; reqs.append(r)
                if r["kind"] in ("expect", "noauth", "malformed", "ws") or r["cut"] or r["http10"] or r.get("bad") or (r["api"] and len(r["body"]) > API_BODY_LIMIT): break
            # Now and then a normal request asks for the close, with more pipelined behind
            # it: those must be neither answered nor forwarded (their paths say "never",
            # and the run fails if the upstream ever receives one).
            closer = next((i for i, r in enumerate(reqs[:-1]) if r["kind"] == "normal" and not r["http10"]), None)
            if closer is not None and rng.random() < 0.15:
                reqs[closer]["head"] = reqs[closer]["head"].replace(b"\r\nX-Fz:", b"\r\nConnection: close\r\nX-Fz:", 1)
                for r in reqs[closer + 1:]:
                    r["head"] = r["head"].replace(b"/_api/", b"/_api/never-", 1).replace(b"/app/", b"/app/never-", 1)
                    r["never"] = True
            abort = rng.random() < 0.02
            if reqs[0]["kind"] == "expect":
                r = reqs[0]; send_split(s, rng, r["head"])
                interim = []
                # Wait for 100 Continue (Gatehouse answers it) before the body.
                first = read_head(rd)
                status = first[1]
                if status != 100:
                    # No 100: a final answer first. Fine for a request whose framing says
                    # no body follows, or one answered early by the upstream (which must
                    # then say the connection closes: the body is not coming).
                    empty = r["wire_body"] in (b"", b"0\r\n\r\n") and b"Transfer-Encoding" not in r["head"]
                    if r["api"] and len(r["body"]) > API_BODY_LIMIT and status == 413 and b"Content-Length" in r["head"]:
                        return  # Declared over the limit: refused before the body, then closed.
                    if not empty and not r["early"]:
                        with lock: failures.append(f"conn {cid} {r['path']}: expect got {status} before the body")
                        return
                    if not empty:
                        if status != r["status"] or first[2].get(b"connection", [b""])[0].lower() != b"close":
                            with lock: failures.append(f"conn {cid} {r['path']}: early answer to expect without close: {status} {first[2]}")
                        with lock: stats["early"] += 1
                        return
                    pending_first = first
                else:
                    pending_first = None
                    with lock: stats["expect"] += 1
                    try:
                        send_split(s, rng, r["wire_body"])
                    except (BrokenPipeError, ConnectionResetError) as e:
                        got = leftover(s, rd)
                        with lock: failures.append(f"conn {cid}: {e!r} while sending the body after 100 Continue: {(r['path'], r['method'], r['kind'], len(r['body']), r['early'], r['head'][:200])}; got {got[:300]!r}")
                        return
            else:
                pending_first = None
                try:
                    send_split(s, rng, b"".join(r["head"] + r["wire_body"] for r in reqs))
                except (BrokenPipeError, ConnectionResetError) as e:
                    # Bytes pipelined behind a request that asked for the close meet the
                    # close (as behind nginx): only what reached the upstream is checked.
                    if any(r.get("never") for r in reqs): return
                    got = leftover(s, rd)
                    with lock: failures.append(f"conn {cid}: {e!r} while sending {[(r['path'], r['method'], r['kind'], len(r['body']), r['head'][:60]) for r in reqs]}; got {got[:300]!r}")
                    return
            if abort:
                s.close(); return
            if rng.random() < 0.05: time.sleep(rng.choice([0.05, 0.2]))  # a slow reader: backpressure
            if rng.random() < 0.02:
                # Leaves in the middle of the answers.
                if not rd.buf and not pending_first:
                    try: rd.fill()
                    except EOFError: pass
                    except TimeoutError:
                        with lock: failures.append(f"conn {cid}: nothing within 20 s for {[(r['path'], r['method'], r['kind'], r['status'], r['framing'], r['length'], r['early'], len(r['body'])) for r in reqs]} HIST {hist[-3:]}")
                s.close(); return
            for r in reqs:
                if r.get("never"):
                    # Behind a request that asked for the close: no answer, the connection ends.
                    try:
                        rd.fill()
                        extra = rd.buf
                    except EOFError:
                        extra = rd.buf
                    if extra:
                        with lock: failures.append(f"conn {cid}: bytes after the answer to a Connection: close request: {extra[:200]!r}")
                    return
                if r["kind"] == "ws" and r["accept"]:
                    version, status, h = read_head(rd)
                    if status != 101 or h.get(b"upgrade", [b""])[0].lower() != b"websocket":
                        with lock: failures.append(f"conn {cid} {r['path']}: upgrade answered {status} {h}")
                        return
                    # The tunnel: every byte sent comes back, in order, nothing else.
                    sent = b""
                    for _ in range(rng.randrange(1, 6)):
                        chunk = bytes(rng.randrange(256) for _ in range(rng.choice([1, 10, 1000, 20000])))
                        s.sendall(chunk); sent += chunk
                    got = rd.buf
                    rd.buf = b""
                    while len(got) < len(sent):
                        d = s.recv(65536)
                        if not d: break
                        got += d
                    with lock: stats["tunnels"] += 1
                    if got != sent:
                        with lock: failures.append(f"conn {cid} {r['path']}: tunnel echoed {len(got)} bytes of {len(sent)} (differ at {next((i for i in range(min(len(got), len(sent))) if got[i] != sent[i]), None)})")
                    return
                try:
                    version, status, h, body, framing = read_response(rd, r["method"], first=pending_first)
                    pending_first = None
                except Truncated as e:
                    # Cut short by the upstream, or broken after a valid head: the client
                    # sees the head and a body that ends before its framing says.
                    if r["cut"] or r.get("bad"):
                        with lock: stats["cut"] += 1
                    else:
                        with lock: failures.append(f"conn {cid} {r['path']} {r['method']} early={r['early']} body={len(r['body'])}: {e} HIST {hist[-4:]}")
                    return
                except Exception as e:
                    if isinstance(e, ConnectionResetError) and any(q.get("never") for q in reqs):
                        return  # The same close, reset by the unread bytes behind the request.
                    with lock: failures.append(f"conn {cid} {r['path']} {r['method']} want {r['status']},{r['framing']},{r['length']} early={r['early']} bad={r.get('bad')} body={len(r['body'])} head={r['head'][:300]!r}: no response ({e!r}) HIST {hist[-4:]}")
                    return
                with lock: stats["responses"] += 1
                if status == 401: stats["401"] += 1
                if r["early"]: stats["early"] += 1
                flags = [f for f in ("poison", "v10", "ka", "trailers", "bad") if f"{f}=1" in r["head"].decode("latin1") or (f == "bad" and r.get("bad"))]
                hist.append((r["path"], r["method"], r["status"], r["framing"], r["length"], "early" if r["early"] else "", r["kind"], len(r["body"]), status, framing, h.get(b"connection", [b""])[0].decode(), len(reqs), "+".join(flags)))
                problems = check(r, version, status, h, body, framing)
                if problems:
                    with lock: failures.append(f"conn {cid} {r['path']} {r['method']} want[{r['status']},{r['framing']},{r['length']},html={r['html']},early={r['early']}]: " + "; ".join(problems) + f" HIST {hist[-4:]}")
                conn_hdr = h.get(b"connection", [b""])[0].lower()
                if conn_hdr == b"close" or framing == "close" or (version == b"HTTP/1.0" and conn_hdr != b"keep-alive"):
                    with lock: stats["closes"] += 1
                    return
    finally:
        s.close()
def worker(wid):
    rng = random.Random(f"{SEED}-{wid}")
    for r in range(ROUNDS):
        try:
            conn_worker(f"{wid}x{r}", rng)
        except Exception as e:
            import traceback
            with lock: failures.append(f"worker {wid} round {r}: {e!r} at {traceback.format_exc()[-600:]}")
threads = [threading.Thread(target=worker, args=(w,)) for w in range(CONNS)]
for t in threads: t.start()
for t in threads: t.join()
print(f"seed {SEED}: {stats}, {len(failures)} failures")
for f in failures[:25]: print("  ", f[:1500])
sys.exit(1 if failures else 0)
