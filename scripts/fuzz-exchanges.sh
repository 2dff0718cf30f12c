#!/usr/bin/env bash
# Randomized request streams through a real Gatehouse in front of a chaos upstream, every
# response checked against what the upstream must have answered to exactly that request
# (scripts/fuzz/client.py says what is mixed; scripts/fuzz/upstream.py how it answers).
# A complement to the deterministic desync suites (Tests/GatehouseProxyTests/Pipeline):
# it found six bugs they did not have a test for, each now a test of its own
# (DesyncAudit2Tests): an upstream connection closed after a close-delimited response
# failing the next pipelined request with a 502; an early upstream answer kept alive, then
# closed under the client's next request; an answer broken right after its head reaching
# the client as an empty close; a request meeting a pooled connection's idle close answered
# 502 instead of sent again; an early answer cut (and the connection reset) when the body
# behind it passed max_api_body_bytes, and, once that was fixed, an upstream left waiting
# for the dropped rest of that body (Benchmarks/README.md, twenty-third round).
#
#   scripts/fuzz-exchanges.sh [BINARY] [SEEDS] [CONNECTIONS]
#
# The default app verifies tokens against a JWKS (python's http.server); a few carry a
# kid it lacks, so requests wait for a refetch, then get a 401.
# Two apps: the default one, and app_b on Host b.test with its own API upstream path (/b)
# and owner key — a request routed to the wrong app shows the other key or path upstream.
# BINARY defaults to the static release build; SEEDS (default 20) runs of CONNECTIONS
# (default 8) concurrent clients, six connections each, seeds from FIRST_SEED (default 1);
# KEEP=1 keeps the work folder (logs, meter files, the targets the upstream received).
# LOOPS=2 runs Gatehouse with two event loops; RELOAD=1 sends it SIGHUP every 0.2 s. After
# the clients, Gatehouse is stopped gracefully and its meter logs are checked against the
# /_api requests the upstream received (each billed exactly once). Exit 1 on any failure,
# which the client prints with the connection's last exchanges. Needs python3 and openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build-static/release/gatehouse}
SEEDS=${2:-20}
CONNECTIONS=${3:-8}
FIRST_SEED=${FIRST_SEED:-1}
LOOPS=${LOOPS:-1}
GH_PORT=${GH_PORT:-18580}
UP_PORT=${UP_PORT:-18581}
ADMIN_PORT=${ADMIN_PORT:-18590}
JWKS_PORT=${JWKS_PORT:-18582}
# Small enough that the client's largest /_api uploads (400 KB) meet it (413).
API_BODY_LIMIT=100000
[[ -x "$BIN" ]] || { echo "no binary at $BIN (swift build -c release --static-swift-stdlib --scratch-path .build-static --product gatehouse --experimental-lto-mode=full, as scripts/bench.sh builds it)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n "${KEEP:-}" ]]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/priv.pem" 2>/dev/null
openssl pkey -in "$work/priv.pem" -pubout -out "$work/pub.pem"
"$BIN" token mint --key "$work/priv.pem" --kid k1 --iss https://iss.test --aud fuzz --ttl 1d > "$work/token"
# Signed by the same key under a kid the JWKS does not have: each sends Gatehouse to the
# JWKS again (within its rate limit), the request waiting meanwhile, then a 401.
"$BIN" token mint --key "$work/priv.pem" --kid k-unknown --iss https://iss.test --aud fuzz --ttl 1d > "$work/token-unknown-kid"
python3 - "$work/pub.pem" > "$work/jwks.json" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
numbers = load_pem_public_key(open(sys.argv[1], "rb").read()).public_numbers()
def b64(n): return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
print(json.dumps({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": b64(numbers.n), "e": b64(numbers.e)}]}))
PY
owner=sk_owner_fuzz
owner_b=sk_owner_b_fuzz
cat > "$work/gatehouse.yaml" <<EOF
listen: 127.0.0.1:$GH_PORT
admin_listen: 127.0.0.1:$ADMIN_PORT
event_loops: $LOOPS
limits: {max_api_body_bytes: $API_BODY_LIMIT}
metering: {dir: $work/meter, fsync: interval}
users: {store: "sqlite:$work/users.db"}
apps:
  - id: app_fuzz
    org: org_fuzz
    upstream: http://127.0.0.1:$UP_PORT
    api:
      upstream: http://127.0.0.1:$UP_PORT/_api
      owner_key: $owner
    auth:
      mode: jwt
      issuer: https://iss.test
      audience: [fuzz]
      jwks_url: http://127.0.0.1:$JWKS_PORT/jwks.json
  - id: app_b
    org: org_b
    hosts: [b.test]
    upstream: http://127.0.0.1:$UP_PORT
    api:
      upstream: http://127.0.0.1:$UP_PORT/b
      owner_key: $owner_b
    auth:
      mode: jwt
      issuer: https://iss.test
      audience: [fuzz]
      jwt_key_file: $work/pub.pem
EOF

python3 scripts/fuzz/upstream.py "$UP_PORT" "$work/api-targets.txt" > "$work/upstream.log" 2>&1 &
pids+=($!)
python3 -m http.server "$JWKS_PORT" --bind 127.0.0.1 --directory "$work" > "$work/jwks.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$JWKS_PORT/jwks.json" >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN" serve --config "$work/gatehouse.yaml" > "$work/gatehouse.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  if curl -fsS "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

gatehouse_pid=${pids[2]}
if [[ -n "${RELOAD:-}" ]]; then
  # SIGHUP every 0.2 s: each reload builds new upstream endpoints and pools while
  # exchanges are in flight on the old ones.
  ( while kill -HUP "$gatehouse_pid" 2>/dev/null; do sleep 0.2; done ) &
  pids+=($!)
fi

status=0
for seed in $(seq "$FIRST_SEED" $((FIRST_SEED + SEEDS - 1))); do
  python3 scripts/fuzz/client.py "$GH_PORT" "$seed" "$CONNECTIONS" 6 "$work/token" "$owner" "$API_BODY_LIMIT" "$owner_b" "$work/token-unknown-kid" || status=1
done
if ! kill -0 "$gatehouse_pid" 2>/dev/null; then
  echo "gatehouse exited during the run:" >&2
  tail -20 "$work/gatehouse.log" >&2
  exit 1
fi

# Metering (SPEC "Metering"): one record per /_api request forwarded upstream. After a
# graceful stop (in-flight requests drained, logs flushed), every /_api target the upstream
# received has exactly one record, and every record it did not receive is a failure
# (`client_abort`: the client left while the upstream connection was still being made, as
# after a reload; `upstream_error`), never an `ok`.
kill -TERM "$gatehouse_pid"
for _ in $(seq 100); do kill -0 "$gatehouse_pid" 2>/dev/null || break; sleep 0.1; done
python3 - "$work/meter" "$work/api-targets.txt" <<'PY' || status=1
import collections, glob, json, sys
records = collections.Counter()
detail = {}
outcome = {}
for path in glob.glob(sys.argv[1] + "/**/*.jsonl", recursive=True):
    for line in open(path):
        if line.strip():
            record = json.loads(line)
            records[record["path"]] += 1
            detail[record["path"]] = f'{record["status"]}/{record["outcome"]}/{record["req_bytes"]}B/{record["duration_ms"]}ms'
            outcome[record["path"]] = record["outcome"]

received = collections.Counter(line.strip() for line in open(sys.argv[2]) if line.strip())
twice = [p for p, n in records.items() if n > 1]
# This upstream never closes a connection before answering, so no request is ever sent
# again (a replay follows only a close met before any answer byte).
resent = [p for p, n in received.items() if n > 1]
# Requests pipelined behind one that asked for the close are never forwarded.
never = sorted(p for p in received if "/never-" in p)
unbilled = sorted(set(received) - set(records))
failed = sorted(p for p in set(records) - set(received) if outcome[p] != "ok")
phantom = sorted(p for p in set(records) - set(received) if outcome[p] == "ok")
print(f"metering: {sum(records.values())} records, {len(received)} /_api requests received upstream; "
      f"{len(twice)} billed twice, {len(unbilled)} unbilled, {len(phantom)} billed ok but never received, "
      f"{len(failed)} failures recorded before reaching it")
for name, paths in (("billed twice", twice), ("unbilled", unbilled), ("billed ok, never received", phantom), ("received twice", resent), ("forwarded behind a Connection: close", never)):
    if paths: print(f"  {name}: {[(p, detail.get(p)) for p in paths[:10]]}")
sys.exit(1 if twice or unbilled or phantom or resent or never else 0)
PY
exit $status
