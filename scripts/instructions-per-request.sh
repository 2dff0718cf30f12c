#!/usr/bin/env bash
# User-space instructions Gatehouse spends per request, counted by valgrind's callgrind:
# deterministic where CPU time on a shared machine is not (±3% between runs), so a change
# worth 1% shows. The per-change figures in Benchmarks/README.md come from this script.
#
#   scripts/instructions-per-request.sh [BINARY] [api|bad|html]
#
#   api   /_api with a valid (cached) RS256 token, owner-key rewrite, metering on
#   bad   /_api with a forged signature: a full RS256 check and a 401 each time
#   html  /index.html, a 20,359-byte page (the anchors' size) with the SDK tag injected
#
# BINARY defaults to the static release build (.build-static, as the container ships).
# The demo upstream answers on 127.0.0.1:$UP_PORT; Gatehouse listens on $GH_PORT. Eight
# kept-alive connections, 400 requests of warm-up, then $N counted (callgrind's counters
# are zeroed and dumped around them with callgrind_control). Kernel time is not counted.
# For html the page comes from a small Python server on $PAGE_PORT (its cost is not counted).
# UPSTREAM=nginx answers /_api from nginx instead of the demo upstream, as the anchors' runs
# do: its responses carry the fields every nginx response has (Server, Date, Connection:
# keep-alive), which Gatehouse parses and rewrites too (~8k instructions more per request).
# CLIENT=browser adds the 14 fields a browser's fetch() from the app sends besides the token
# (user agent, sec-ch-ua, sec-fetch-*, origin, referer, accept-*, cookies): the anchors'
# wrk sends only Host and Authorization, which leaves the per-field costs out.
# PAGE=app (html): the page's response head is an app framework's (a content security policy
# the injector adds its nonce to, caching and security fields) instead of two fields.
# PAGE_CODING=gzip (html): the page compressed by the app (zlib level 6, varied text), which
# the injector inflates and compresses again.
# POLICY=email: the app admits users by email domain (`policy.allow_email_domains`), checked
# on every request against the cached token's email.
# HOSTS=1: the app is routed by `Host` (`apps[].hosts`), as where several apps share one
# Gatehouse.
# BODY=n: a POST with an n-byte JSON body instead of a GET.
# UPSTREAM=nginx-tls: the same nginx answering over TLS (a self-signed P-256 certificate
# trusted through `api.ca_file`), as a paid API is reached over https.
# UPSTREAM_FIELDS=api (with UPSTREAM=nginx): the API's responses carry what a real API's do
# (caching, CORS, rate-limit, request id, HSTS, ETag: nine more fields).
# REQPATH=/_auth/me (api): another path than /_api/hello, with the same token.
# CLIENT=browser-cookie: the same fields, the token in Clerk's `__session` cookie instead of
# an Authorization field (a same-origin call relying on the cookie).
# CALLGRIND_OPTS: more valgrind options, e.g. "--dump-instr=yes" (with KEEP=file) to find each
# retain's call site by address (addr2line).
# Needs valgrind, openssl and python3 (Debian: apt-get install valgrind; nginx for UPSTREAM=nginx).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build-static/release/gatehouse}
MODE=${2:-api}
N=${N:-4000}
GH_PORT=${GH_PORT:-18480}
UP_PORT=${UP_PORT:-18481}
ADMIN_PORT=${ADMIN_PORT:-18490}
PAGE_PORT=${PAGE_PORT:-18482}
for tool in valgrind callgrind_control openssl python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
[[ -x "$BIN" ]] || { echo "no binary at $BIN (swift build -c release --static-swift-stdlib --scratch-path .build-static --product gatehouse --experimental-lto-mode=full, as scripts/bench.sh builds it)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/priv.pem" 2>/dev/null
openssl pkey -in "$work/priv.pem" -pubout -out "$work/pub.pem"
"$BIN" token mint --key "$work/priv.pem" --iss https://iss.test --aud bench --ttl 1h --email "Ada.Lovelace@Example.com" > "$work/token"
if [[ "$MODE" == bad ]]; then
  # Same header and claims, another signature of the right length.
  python3 - "$work/token" <<'PY'
import sys
path = sys.argv[1]
head, payload, sig = open(path).read().strip().split(".")
flipped = ("B" if sig[10] == "A" else "A")
open(path, "w").write(".".join([head, payload, sig[:10] + flipped + sig[11:]]))
PY
  expect=401
else
  expect=200
fi
path=${REQPATH:-/_api/hello}
page_upstream=http://127.0.0.1:$UP_PORT
if [[ "$MODE" == html ]]; then
  path=/index.html
  page_upstream=http://127.0.0.1:$PAGE_PORT
  python3 - "$PAGE_PORT" > "$work/page.log" 2>&1 <<'PY' &
import http.server, os, sys
# 20,359 bytes like the anchors' page: a head to inject into, then filler paragraphs.
head = b"<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>bench</title>\n</head>\n<body>\n"
tail = b"</body>\n</html>\n"
filler = b"<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n"
body = head + filler * ((20359 - len(head) - len(tail)) // len(filler))
body += b" " * (20359 - len(body) - len(tail)) + tail
# Head and body in one write, as nginx sends a static file: one read on Gatehouse's side.
fields = b"Content-Type: text/html\r\n"
if os.environ.get("PAGE") == "app":
    # What an app framework's page carries (a Next.js-like head): a policy the injector
    # adds its nonce to, caching and security fields.
    fields = (
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Cache-Control: private, no-cache, no-store, max-age=0, must-revalidate\r\n"
        b"Content-Security-Policy: default-src 'self'; script-src 'self' 'nonce-r4nd0m' https://clerk.example.com "
        b"https://challenges.cloudflare.com; connect-src 'self' https://clerk.example.com https://api.example.com; "
        b"img-src 'self' https://img.clerk.com data:; style-src 'self' 'unsafe-inline'; frame-src https://challenges.cloudflare.com; "
        b"worker-src 'self' blob:; form-action 'self'; frame-ancestors 'none'\r\n"
        b"ETag: \"1f3a-9c0b2d\"\r\n"
        b"Vary: RSC, Next-Router-State-Tree, Next-Router-Prefetch, Accept-Encoding\r\n"
        b"X-Content-Type-Options: nosniff\r\n"
        b"Referrer-Policy: strict-origin-when-cross-origin\r\n"
        b"Strict-Transport-Security: max-age=63072000; includeSubDomains; preload\r\n"
        b"X-Powered-By: Next.js\r\n"
    )
if os.environ.get("PAGE_CODING") == "gzip":
    # Compressed as an app server compresses (zlib level 6), from varied text (a page of
    # one repeated paragraph would compress 100 to 1 and cost the codec nothing).
    import gzip, random
    rng = random.Random(7)
    words = [b"account", b"billing", b"dashboard", b"search", b"retrieve", b"widget", b"settings", b"team",
             b"invoice", b"usage", b"project", b"deploy", b"status", b"metric", b"latency", b"request"]
    paragraphs = b""
    while len(head) + len(paragraphs) + len(tail) < 20359:
        paragraphs += b"<p class=\"row-%d\">" % rng.randrange(1000) + b" ".join(rng.choice(words) for _ in range(12)) + b"</p>\n"
    body = gzip.compress((head + paragraphs)[:20359 - len(tail)] + tail, compresslevel=6, mtime=0)
    fields += b"Content-Encoding: gzip\r\n"
response = b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: %d\r\n\r\n" % len(body) + body
class Page(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.wfile.write(response)
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Page).serve_forever()
PY
  pids+=($!)
fi
api_upstream=http://127.0.0.1:$UP_PORT/_api
if [[ "${UPSTREAM:-demo}" == nginx-tls ]]; then
  # The API over TLS, as a paid API is called: an ECDSA P-256 certificate for 127.0.0.1,
  # trusted through `api.ca_file`.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/upstream-key.pem" -out "$work/upstream-cert.pem" 2>/dev/null
  api_upstream=https://127.0.0.1:$UP_PORT/_api
fi
mkdir -p "$work/meter"
cat > "$work/gatehouse.yaml" <<EOF
listen: 127.0.0.1:$GH_PORT
admin_listen: 127.0.0.1:$ADMIN_PORT
event_loops: 1
metering: {dir: $work/meter, fsync: interval}
users: {store: "sqlite:$work/users.db"}
apps:
  - id: app_bench
    org: org_bench
    upstream: $page_upstream
    api:
      upstream: $api_upstream
      owner_key: sk_owner_bench
$(if [[ "${UPSTREAM:-demo}" == nginx-tls ]]; then printf '      ca_file: %s\n' "$work/upstream-cert.pem"; fi)
    auth:
      mode: jwt
      issuer: https://iss.test
      audience: [bench]
      jwt_key_file: $work/pub.pem
$(if [[ -n "${HOSTS:-}" ]]; then printf '    hosts: [app.example.com, 127.0.0.1]\n'; fi)
$(if [[ "${POLICY:-}" == email ]]; then printf '    policy: {allow_email_domains: [example.org, example.com], allow_emails: [grace@example.net]}\n'; fi)
EOF

if [[ "${UPSTREAM:-demo}" == nginx || "${UPSTREAM:-demo}" == nginx-tls ]]; then
  command -v nginx >/dev/null || { echo "UPSTREAM=nginx needs nginx" >&2; exit 1; }
  listen_tls=""
  if [[ "$UPSTREAM" == nginx-tls ]]; then
    listen_tls=" ssl; ssl_certificate $work/upstream-cert.pem; ssl_certificate_key $work/upstream-key.pem"
  fi
  mkdir -p "$work/nginx"
  # The anchors' upstream answer: a 104-byte JSON body (../shared/bench).
  cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$UP_PORT$listen_tls;
    location /_api/ {
      default_type application/json;
$(if [[ "${UPSTREAM_FIELDS:-}" == api ]]; then cat <<'FIELDS'
      add_header Cache-Control "private, no-store" always;
      add_header Vary "Origin, Accept-Encoding" always;
      add_header Access-Control-Allow-Origin "https://app.example.com" always;
      add_header Access-Control-Allow-Credentials "true" always;
      add_header X-Request-Id "req_8f14e45fceea167a5a36dedd4bea2543" always;
      add_header X-RateLimit-Limit "600" always;
      add_header X-RateLimit-Remaining "599" always;
      add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
      add_header ETag "W/\"68-1f3a9c0b\"" always;
FIELDS
fi)
      return 200 '{"ok":true,"service":"bench-upstream","data":{"id":42,"name":"widget","tags":["a","b","c"]},"v":"1.0.0"}';
    }
  }
}
NGINX
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" > "$work/upstream.log" 2>&1 &
else
  "$BIN" demo-upstream --listen "127.0.0.1:$UP_PORT" --owner-key sk_owner_bench > "$work/upstream.log" 2>&1 &
fi
pids+=($!)
# valgrind 3.19 cannot read the DWARF 5 of Swift 6 binaries; the symbol table is enough.
strip -g -o "$work/gatehouse" "$BIN"
valgrind --tool=callgrind ${CALLGRIND_OPTS:-} --callgrind-out-file="$work/callgrind.out" "$work/gatehouse" serve --config "$work/gatehouse.yaml" > "$work/valgrind.log" 2>&1 &
vg=$!
pids+=("$vg")

python3 - "$vg" "$N" "$GH_PORT" "$work/token" "$expect" "$path" <<'PY'
import os, socket, subprocess, sys, time
pid, n, port, token_path, expect, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
token = open(token_path).read().strip()
client = os.environ.get("CLIENT", "")
fields = f"Host: 127.0.0.1:{port}\r\n"
if client == "browser-cookie":
    # Clerk's same-origin session: the token in `__session`, no Authorization field.
    fields += f"Cookie: theme=dark; __client_uat=1700000000; __session={token}\r\n"
else:
    fields += f"Authorization: Bearer {token}\r\n"
if client.startswith("browser"):
    # What a browser's fetch() from the app carries besides the token (Chromium's fields).
    fields += (
        'sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"\r\n'
        "sec-ch-ua-mobile: ?0\r\n"
        'sec-ch-ua-platform: "Linux"\r\n'
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"
        "Accept: application/json, text/plain, */*\r\n"
        f"Origin: http://127.0.0.1:{port}\r\n"
        "Sec-Fetch-Site: same-origin\r\n"
        "Sec-Fetch-Mode: cors\r\n"
        "Sec-Fetch-Dest: empty\r\n"
        f"Referer: http://127.0.0.1:{port}/dashboard\r\n"
        "Accept-Encoding: gzip, deflate, br, zstd\r\n"
        "Accept-Language: en-US,en;q=0.9\r\n"
        "Connection: keep-alive\r\n"
    )
    if client == "browser":
        fields += "Cookie: theme=dark; __client_uat=1732600000; __session=eyJhbGciOiJSUzI1NiJ9.e30.c2ln\r\n"
body_size = int(os.environ.get("BODY", "0"))
if body_size:
    # A JSON body of that many bytes, POSTed (the API's writes).
    payload = ('{"query":"' + "x" * max(0, body_size - 12) + '"}')[:body_size].encode()
    request = f"POST {path} HTTP/1.1\r\n{fields}Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload
else:
    request = f"GET {path} HTTP/1.1\r\n{fields}\r\n".encode()
deadline = time.time() + 120
while True:
    try:
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        break
    except OSError:
        if time.time() > deadline: sys.exit("gatehouse did not start under valgrind")
        time.sleep(0.5)

def response(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: sys.exit("connection closed")
        data += chunk
        end = data.find(b"\r\n\r\n")
        if end < 0: continue
        head = data[:end].decode("latin1").lower().split("\r\n")
        status = head[0].split(" ")[1]
        if status != expect: sys.exit(f"expected {expect}, got {head[0]}")
        lengths = [line.split(":", 1)[1] for line in head if line.startswith("content-length:")]
        if lengths:
            while len(data) < end + 4 + int(lengths[0]): data += s.recv(65536)
            return
        # Chunked (an injected page whose length the proxy did not know up front).
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = s.recv(65536)
            if not chunk: sys.exit("connection closed")
            data += chunk
        return

def run(count):
    for _ in range(count // len(socks)):
        for s in socks: s.sendall(request)
        for s in socks: response(s)

run(400)
subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
run(n)
subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
PY
sleep 1
dump=$(ls -t "$work"/callgrind.out.* | head -1)
total=$(grep -E '^(summary|totals):' "$dump" | head -1 | awk '{print $2}')
echo "$MODE: $(( total / N )) instructions per request (user space, $N requests, $(basename "$BIN"), ${UPSTREAM:-demo} upstream)"
# Calls into the Swift runtime's reference counting, counted from the dump's call records:
# each is an atomic read-modify-write on the object's header, ~9 ns here, so in CPU time
# they weigh about twice their share of the instructions (perf: ~40% of the proxy's user
# time for `/_api`); the bridge-object entries are the String and Array storage among them.
python3 - "$dump" "$N" <<'PY'
import re, sys
path, n = sys.argv[1], int(sys.argv[2])
names, counts, callee = {}, {}, None
wanted = ("swift_retain", "swift_release", "swift_retain_n", "swift_release_n",
          "swift_bridgeObjectRetain", "swift_bridgeObjectRelease")
counted = wanted + ("swift_beginAccess",)
for line in open(path, errors="replace"):
    if line.startswith(("fn=", "cfn=")):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.strip())
        if m and m.group(2): names[m.group(1)] = m.group(2)
        if line.startswith("cfn=") and m: callee = names.get(m.group(1))
    elif line.startswith("calls=") and callee in counted:
        counts[callee] = counts.get(callee, 0) + int(line[6:].split()[0])
rc = counts.get("swift_retain", 0) + counts.get("swift_release", 0)
print(f"reference counting: {rc / n:.0f} retains and releases per request (" +
      ", ".join(f"{name} {counts.get(name, 0) / n:.0f}" for name in wanted if counts.get(name)) + ")")
# Accesses to a class's stored property (or a global) that the optimizer could not prove
# exclusive are checked at run time, ~75 instructions each (Benchmarks/README.md,
# twenty-first round): NIO's and Gatehouse's together.
print(f"run-time exclusivity checks: {counts.get('swift_beginAccess', 0) / n:.0f} per request (swift_beginAccess)")
PY
if [[ -n "${KEEP:-}" ]]; then cp "$dump" "$KEEP"; echo "profile kept in $KEEP (callgrind_annotate $KEEP)"; fi
