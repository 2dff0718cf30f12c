#!/usr/bin/env bash
# A long run under mixed load, watched the way an on-call engineer would: does anything
# grow that should not (resident memory, open descriptors, threads), does any request
# fail, and does billing lose or invent a record across configuration reloads?
#
#   scripts/soak.sh [BINARY]          (default: the static release build, .build-static)
#
# Starts `gatehouse demo-upstream` and `gatehouse serve` (dev issuer, metering on, SQLite
# users) and runs wrk with scripts/soak/mix.lua for DURATION seconds: valid and forged
# tokens on /_api, the injected HTML page, /_auth/me, 2 KB POSTs, and requests with
# `Connection: close` (a connection opened and closed for each). Gatehouse is sent SIGHUP
# every RELOAD_EVERY seconds (each reload builds a new runtime: endpoints, pools' lists,
# token caches); its VmRSS, open descriptors and threads are sampled every SAMPLE seconds.
# Then it is stopped gracefully and its meter logs are read.
#
# Fails (exit 1) when: a response is neither 200 nor 401, or wrk saw a socket error; the
# 401s are not the forged requests; VmRSS in the last quarter of the run exceeds its level
# a quarter of the way in by more than LEAK_MB; more descriptors are open once the clients
# are gone than before they came (plus the upstream pools' idle connections: at most one
# per client connection for each of the app's two upstreams, the page's and the API's —
# kept across reloads, the upstream being unchanged); the meter logs do not hold exactly one line per record the process counted
# as written, one `ok` line per 2xx /_api response it counted, and more than CONNECTIONS
# others (requests wrk leaves in flight when it stops end as `client_abort`).
#
# Knobs: DURATION (600), SAMPLE (10), RELOAD_EVERY (5; 0 = none), CONNECTIONS (64),
# THREADS (2), LOOPS (1, Gatehouse's event loops), LEAK_MB (8), PIN (1: wrk and the upstream
# on CPU 0, Gatehouse on CPU 1), BASE_PORT (random), KEEP=1 keeps the work folder.
# Needs wrk, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build-static/release/gatehouse}
DURATION=${DURATION:-600}
SAMPLE=${SAMPLE:-10}
RELOAD_EVERY=${RELOAD_EVERY:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
LOOPS=${LOOPS:-1}
LEAK_MB=${LEAK_MB:-8}
PIN=${PIN:-1}
[[ -x "$BIN" ]] || { echo "soak: no executable at $BIN" >&2; exit 1; }
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is missing" >&2; exit 1; }
done
for var in $(compgen -e | grep '^GATEHOUSE_' || true); do unset "$var"; done

BASE=${BASE_PORT:-$((20000 + RANDOM % 39000))}
UP_PORT=$BASE GH_PORT=$((BASE + 1)) ADMIN_PORT=$((BASE + 2))
OWNER_KEY="sk_soak_$RANDOM$RANDOM"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-soak.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [[ -n "${KEEP:-}" ]]; then echo "soak: work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

PIN_0=() PIN_1=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
  PIN_0=(taskset -c 0) PIN_1=(taskset -c 1)
fi

"${PIN_0[@]}" "$BIN" demo-upstream --listen "127.0.0.1:$UP_PORT" --owner-key "$OWNER_KEY" --event-loops 1 \
  >"$WORK/upstream.log" 2>&1 &
PIDS+=($!)
cat >"$WORK/gatehouse.yaml" <<YAML
listen: 127.0.0.1:$GH_PORT
admin_listen: 127.0.0.1:$ADMIN_PORT
event_loops: $LOOPS
drain_timeout_ms: 5000
metering:
  dir: $WORK/meter
users:
  store: sqlite:$WORK/users.db
apps:
  - id: app_soak
    org: org_soak
    upstream: http://127.0.0.1:$UP_PORT
    api:
      upstream: http://127.0.0.1:$UP_PORT
      prefix: /_api
      strip_prefix: false
      owner_key: $OWNER_KEY
    auth:
      mode: dev
YAML
GATEHOUSE_LOG_LEVEL=warning "${PIN_1[@]}" "$BIN" serve --config "$WORK/gatehouse.yaml" >"$WORK/gatehouse.log" 2>&1 &
GH=$!
PIDS+=($GH)

for _ in $(seq 300); do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$ADMIN_PORT/readyz" && \
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$UP_PORT/" && break
  sleep 0.1
done
TOKEN=$(curl -sf --max-time 5 -X POST -H 'Content-Type: application/json' \
  -d '{"email":"soak@example.com","name":"Soak"}' "http://127.0.0.1:$GH_PORT/_auth/dev/token" |
  sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[[ -n "$TOKEN" ]] || { echo "soak: could not mint a dev token (logs in $WORK)" >&2; KEEP=1; exit 1; }

sample() { # prints "rss_kb fds threads anon_kb file_kb"
  local rss threads fds anon file
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$GH/status")
  anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$GH/status")
  file=$(awk '/^RssFile:/ {print $2}' "/proc/$GH/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$GH/status")
  fds=$(ls "/proc/$GH/fd" | wc -l)
  echo "$rss $fds $threads $anon $file"
}
read -r RSS0 FDS0 THREADS0 _ _ < <(sample)
echo "soak: ${DURATION}s, $CONNECTIONS connections, reload every ${RELOAD_EVERY}s; before: VmRSS ${RSS0} kB, $FDS0 fds, $THREADS0 threads"

TOKEN=$TOKEN "${PIN_0[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s scripts/soak/mix.lua \
  "http://127.0.0.1:$GH_PORT" >"$WORK/wrk.txt" 2>&1 &
WRK=$!
: >"$WORK/samples.tsv"
start=$SECONDS reloads=0 next_reload=$RELOAD_EVERY next_sample=$SAMPLE
while kill -0 "$WRK" 2>/dev/null; do
  sleep 1
  elapsed=$((SECONDS - start))
  # Due times, not multiples: a slow pass must not skip a reload or a sample.
  if [[ $RELOAD_EVERY -gt 0 && $elapsed -ge $next_reload ]]; then
    kill -HUP "$GH"; reloads=$((reloads + 1)); next_reload=$((next_reload + RELOAD_EVERY))
  fi
  if [[ $elapsed -ge $next_sample ]]; then
    next_sample=$((next_sample + SAMPLE))
    read -r rss fds threads anon file < <(sample)
    printf '%s\t%s\t%s\t%s\n' "$elapsed" "$rss" "$fds" "$threads" >>"$WORK/samples.tsv"
    printf 'soak: %5ss VmRSS %6s kB (anonymous %6s, file %6s)  fds %5s  threads %s\n' "$elapsed" "$rss" "$anon" "$file" "$fds" "$threads"
  fi
done
wait "$WRK" || true
# The clients are gone; their connections close as Gatehouse reads their end.
sleep 2
read -r RSS1 FDS1 THREADS1 _ _ < <(sample)
curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" >"$WORK/metrics.txt"
kill -TERM "$GH"
for _ in $(seq 150); do kill -0 "$GH" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$GH" 2>/dev/null; then echo "soak: FAIL gatehouse did not stop within 15 s of SIGTERM"; KEEP=1; exit 1; fi

grep -E "Requests/sec|soak-mix" "$WORK/wrk.txt" || true
python3 - "$WORK" "$DURATION" "$LEAK_MB" "$CONNECTIONS" "$FDS0" "$FDS1" "$reloads" "$RSS0" "$RSS1" <<'PY' || { KEEP=1; exit 1; }
import glob, json, re, sys
work, duration, leak_mb, connections, fds0, fds1, reloads, rss0, rss1 = sys.argv[1], *map(int, sys.argv[2:])
failures = []
wrk = open(f"{work}/wrk.txt").read()
m = re.search(r"soak-mix ok=(\d+) unauthorized=(\d+) forged_sent=(\d+) other=(\d+) other_statuses=\[(.*?)\] socket_errors=(\d+)/(\d+)/(\d+)/(\d+)", wrk)
if not m:
    failures.append("wrk printed no summary:\n" + wrk)
else:
    ok, unauthorized, forged, other = map(int, m.group(1, 2, 3, 4))
    errors = list(map(int, m.group(6, 7, 8, 9)))
    if other: failures.append(f"{other} responses neither 200 nor 401:{m.group(5)}")
    if any(errors): failures.append(f"socket errors (connect/read/write/timeout): {errors}")
    if not (forged - connections <= unauthorized <= forged):
        failures.append(f"{unauthorized} 401s for {forged} forged requests")
    print(f"soak: responses: {ok} × 200, {unauthorized} × 401 (forged sent: {forged})")

samples = [tuple(map(int, line.split("\t"))) for line in open(f"{work}/samples.tsv") if line.strip()]
if samples:
    quarter = [s for s in samples if s[0] >= duration / 4]
    last = [s for s in samples if s[0] >= duration * 3 / 4]
    if quarter and last:
        base, peak = quarter[0][1], max(s[1] for s in last)
        print(f"soak: VmRSS {rss0} kB before, {base} kB at {quarter[0][0]} s, at most {peak} kB in the last quarter, {rss1} kB after; "
              f"fds {fds0} before, max {max(s[2] for s in samples)} during, {fds1} after; threads max {max(s[3] for s in samples)}")
        if peak - base > leak_mb * 1024:
            failures.append(f"VmRSS grew {peak - base} kB between a quarter of the way in and the last quarter (limit {leak_mb} MB)")
if fds1 > fds0 + 2 * connections:
    failures.append(f"{fds1} descriptors open after the clients left, {fds0} before (pool allowance {2 * connections})")

metrics = open(f"{work}/metrics.txt").read()
def metric(pattern):
    return sum(float(v) for v in re.findall(pattern + r"\s+([0-9.e+]+)$", metrics, re.M))
written = int(metric(r'^gatehouse_meter_records_written_total'))
api_2xx = int(metric(r'^gatehouse_requests_total\{app="app_soak",route="api",status="2xx"\}'))
lines = ok_2xx = torn = 0
for path in glob.glob(f"{work}/meter/*/*.jsonl"):
    for line in open(path):
        try:
            record = json.loads(line)
        except ValueError:
            torn += 1
            continue
        lines += 1
        if record.get("outcome") == "ok" and 200 <= record.get("status", 0) < 300:
            ok_2xx += 1
peak = int(metric(r'^gatehouse_meter_queued_records_peak'))
print(f"soak: meter: {lines} lines ({ok_2xx} ok 2xx), process counted {written} written and {api_2xx} 2xx /_api responses; "
      f"at most {peak} records queued at once; {reloads} reloads")
if torn: failures.append(f"{torn} meter lines are not JSON")
# The scrape came before SIGTERM's last flush: the logs may hold more than it counted, never less.
if lines < written: failures.append(f"{lines} meter lines, but {written} records were counted as written")
if ok_2xx != api_2xx: failures.append(f"{ok_2xx} ok 2xx meter lines for {api_2xx} 2xx /_api responses")
# Requests wrk left in flight when it stopped end as client_abort records: at most one per connection.
if lines - ok_2xx > connections: failures.append(f"{lines - ok_2xx} meter lines besides the ok 2xx ones")
for f in failures: print("soak: FAIL " + f)
if failures: sys.exit(1)
print("soak: OK")
PY
