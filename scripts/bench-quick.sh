#!/usr/bin/env bash
# Loopback throughput of Gatehouse's hot path: wrk against a fast upstream directly,
# then through `gatehouse serve` (dev-mode JWT gate, owner-key swap, keep-alive pool)
# in front of it, and the ratio. Both servers are the release `gatehouse` binary:
# `gatehouse demo-upstream` (hidden subcommand) and `gatehouse serve`.
#
#   scripts/bench-quick.sh                # builds release into .build-release, 10 s runs
#   DURATION=30 scripts/bench-quick.sh
#   GATEHOUSE_BIN=path/to/gatehouse scripts/bench-quick.sh   # skip the build
#
# This measures the dynamically linked build (quick to rebuild); the container image and
# scripts/bench.sh use `--static-swift-stdlib`, about 12% less CPU per request, e.g.
#   GATEHOUSE_BIN=.build-static/release/gatehouse scripts/bench-quick.sh
#
# Knobs: DURATION (10), WARMUP (2), CONNECTIONS (64), THREADS (2), EVENT_LOOPS (1,
# gatehouse's and the upstream's), PIN (1: wrk + upstream on CPU 0, gatehouse alone
# on CPU 1, as /work/shared/bench/anchors.sh does), BASE_PORT (random).
# Everything listens on 127.0.0.1; every process started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
EVENT_LOOPS=${EVENT_LOOPS:-1}
PIN=${PIN:-1}
SCRATCH=${SCRATCH_PATH:-.build-release}

if [[ -z "${GATEHOUSE_BIN:-}" ]]; then
  echo "== swift build -c release --scratch-path $SCRATCH --product gatehouse" >&2
  swift build -c release --scratch-path "$SCRATCH" --product gatehouse >&2
  GATEHOUSE_BIN="$SCRATCH/release/gatehouse"
fi
[[ -x "$GATEHOUSE_BIN" ]] || { echo "bench: no executable at $GATEHOUSE_BIN" >&2; exit 1; }
BIN=$GATEHOUSE_BIN
# The configuration comes from the file alone: no GATEHOUSE_* variable overlays it.
for var in $(compgen -e | grep '^GATEHOUSE_' || true); do unset "$var"; done

if ! command -v wrk >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    apt-get install -y -qq wrk >/dev/null
  else
    echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 1
  fi
fi
command -v curl >/dev/null 2>&1 || { echo "bench: curl is required" >&2; exit 1; }

BASE=${BASE_PORT:-$((20000 + RANDOM % 39000))}
UPSTREAM_PORT=$BASE
PROXY_PORT=$((BASE + 1))
ADMIN_PORT=$((BASE + 2))
OWNER_KEY="sk_bench_$RANDOM$RANDOM"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# PIN_0 / PIN_1: command prefixes placing a process on CPU 0 / 1 (empty when not pinning).
# Prefixes, not a shell function, so that `$!` is the server's own pid.
PIN_0=() PIN_1=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null 2>&1 && [[ $(nproc) -ge 2 ]]; then
  PIN_0=(taskset -c 0) PIN_1=(taskset -c 1)
fi

wait_port() { # wait_port PORT NAME
  for _ in $(seq 300); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then return 0; fi
    sleep 0.1
  done
  echo "bench: $2 did not listen on 127.0.0.1:$1 within 30 s (logs in $WORK)" >&2
  exit 1
}

"${PIN_0[@]}" "$BIN" demo-upstream --listen "127.0.0.1:$UPSTREAM_PORT" --owner-key "$OWNER_KEY" \
  --event-loops "$EVENT_LOOPS" >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)

cat >"$WORK/gatehouse.yaml" <<YAML
listen: 127.0.0.1:$PROXY_PORT
admin_listen: 127.0.0.1:$ADMIN_PORT
event_loops: $EVENT_LOOPS
drain_timeout_ms: 2000
metering:
  dir: $WORK/meter
apps:
  - id: app_bench
    org: org_bench
    upstream: http://127.0.0.1:$UPSTREAM_PORT
    api:
      upstream: http://127.0.0.1:$UPSTREAM_PORT
      prefix: /_api
      strip_prefix: false
      owner_key: $OWNER_KEY
    auth:
      mode: dev
YAML
GATEHOUSE_LOG_LEVEL=warning "${PIN_1[@]}" "$BIN" serve --config "$WORK/gatehouse.yaml" >"$WORK/gatehouse.log" 2>&1 &
GATEHOUSE_PID=$!
PIDS+=($GATEHOUSE_PID)

wait_port "$UPSTREAM_PORT" "demo-upstream"
wait_port "$PROXY_PORT" "gatehouse"

TOKEN=$(curl -sf --max-time 5 -X POST -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","name":"Bench"}' "http://127.0.0.1:$PROXY_PORT/_auth/dev/token" |
  sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[[ -n "$TOKEN" ]] || { echo "bench: could not mint a dev token" >&2; exit 1; }

# Correctness before load: each path answers 200 (and the gate really gates).
check() { # check EXPECTED URL [curl args...]
  local expected=$1 url=$2; shift 2
  local got
  got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url")
  [[ "$got" == "$expected" ]] || { echo "bench: $url gave $got, expected $expected" >&2; exit 1; }
}
check 200 "http://127.0.0.1:$UPSTREAM_PORT/_api/hello" -H "Authorization: Bearer $OWNER_KEY"
check 200 "http://127.0.0.1:$PROXY_PORT/_api/hello" -H "Authorization: Bearer $TOKEN"
check 401 "http://127.0.0.1:$PROXY_PORT/_api/hello"

run_wrk() { # run_wrk NAME URL AUTH → prints req/s
  local name=$1 url=$2 auth=$3
  "${PIN_0[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -H "Authorization: Bearer $auth" "$url" >/dev/null
  "${PIN_0[@]}" timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -H "Authorization: Bearer $auth" "$url" >"$WORK/wrk-$name.txt"
  if grep -q "Non-2xx" "$WORK/wrk-$name.txt"; then
    echo "bench: $name had non-2xx responses:" >&2; cat "$WORK/wrk-$name.txt" >&2; exit 1
  fi
  awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk-$name.txt"
}
latency() { awk '$1 == "99%" {print $2}' "$WORK/wrk-$1.txt"; }

DIRECT=$(run_wrk direct "http://127.0.0.1:$UPSTREAM_PORT/_api/hello" "$OWNER_KEY")
PROXIED=$(run_wrk gatehouse "http://127.0.0.1:$PROXY_PORT/_api/hello" "$TOKEN")
PEAK_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$GATEHOUSE_PID/status" 2>/dev/null || echo "?")

echo
echo "GET /_api/hello, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, event loops: $EVENT_LOOPS, pinned: $PIN"
printf '%-28s %12s %10s\n' "target" "requests/s" "p99"
printf '%-28s %12s %10s\n' "direct (demo-upstream)" "$DIRECT" "$(latency direct)"
printf '%-28s %12s %10s\n' "through gatehouse (JWT)" "$PROXIED" "$(latency gatehouse)"
awk -v p="$PROXIED" -v d="$DIRECT" 'BEGIN { printf "ratio gatehouse/direct: %.3f\n", p / d }'
echo "gatehouse peak RSS (VmHWM): ${PEAK_KB} kB"
echo "outputs: $WORK"
