#!/usr/bin/env bash
# Randomized request streams through a real Gatehouse in front of a chaos upstream, every
# response checked against what the upstream must have answered to exactly that request
# (scripts/fuzz/client.py says what is mixed; scripts/fuzz/upstream.py how it answers).
# A complement to the deterministic desync suites (Tests/GatehouseProxyTests/Pipeline):
# it found two bugs they did not have a test for — an upstream connection closed after a
# close-delimited response failing the next pipelined request with a 502, and an early
# upstream answer kept alive and then closed under the client's next request — each now a
# test of its own (DesyncAudit2Tests).
#
#   scripts/fuzz-exchanges.sh [BINARY] [SEEDS] [CONNECTIONS]
#
# BINARY defaults to the static release build; SEEDS (default 20) runs of CONNECTIONS
# (default 8) concurrent clients, six connections each, seeds from FIRST_SEED (default 1);
# LOOPS=2 runs Gatehouse with two event loops. Exit 1 on any failure, which the client
# prints with the connection's last exchanges. Needs python3 and openssl.
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
# Small enough that the client's largest /_api uploads (400 KB) meet it (413).
API_BODY_LIMIT=100000
[[ -x "$BIN" ]] || { echo "no binary at $BIN (swift build -c release --static-swift-stdlib --scratch-path .build-static --product gatehouse)" >&2; exit 1; }

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
"$BIN" token mint --key "$work/priv.pem" --iss https://iss.test --aud fuzz --ttl 1d > "$work/token"
owner=sk_owner_fuzz
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
      jwt_key_file: $work/pub.pem
EOF

python3 scripts/fuzz/upstream.py "$UP_PORT" > "$work/upstream.log" 2>&1 &
pids+=($!)
"$BIN" serve --config "$work/gatehouse.yaml" > "$work/gatehouse.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  if curl -fsS "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

status=0
for seed in $(seq "$FIRST_SEED" $((FIRST_SEED + SEEDS - 1))); do
  python3 scripts/fuzz/client.py "$GH_PORT" "$seed" "$CONNECTIONS" 6 "$work/token" "$owner" "$API_BODY_LIMIT" || status=1
done
if ! kill -0 "${pids[1]}" 2>/dev/null; then
  echo "gatehouse exited during the run:" >&2
  tail -20 "$work/gatehouse.log" >&2
  status=1
fi
exit $status
