#!/usr/bin/env bash
# Container smoke test without a container engine.
#
# Builds the release binary exactly as the Dockerfile does, then runs it the way the image
# runs it: the Dockerfile's ENV lines (read from the Dockerfile itself, so the two cannot
# drift), its ENTRYPOINT + CMD, WORKDIR and USER (a real uid, no capabilities), a read-only
# root file system with one writable volume at /var/lib/gatehouse, secrets as read-only
# files under /run/secrets (as compose mounts them), and a private network namespace
# with only loopback (like a pod: the app beside it on 127.0.0.1:3000). The sandbox is
# bubblewrap (Debian's `bubblewrap`); this script must run as root.
#
# Checks: the root is read-only and the volume writable; /healthz, /readyz and the
# Dockerfile's HEALTHCHECK command; the gate (no token -> 401 + SPEC JSON, bad signature
# -> 401, valid token -> 200 from the upstream with the owner key swapped in); HTML
# injection on the app route; /metrics; a meter record under <volume>/meter/<org>/ with
# the right fields, read back by `gatehouse meter report`; SIGTERM -> exit 0.
#
#   scripts/container-smoke.sh            # build (incremental) and run
#   SMOKE_SKIP_BUILD=1 scripts/container-smoke.sh
#   SMOKE_KEEP=1 scripts/container-smoke.sh   # keep the work folder for inspection
#   SMOKE_BIN=path/to/gatehouse scripts/container-smoke.sh   # run another build
set -euo pipefail

fail() { echo "container-smoke: FAIL: $*" >&2; exit 1; }
note() { echo "container-smoke: $*"; }

# ---------------------------------------------------------------------------------------
# Inside the sandbox: uid 10001, read-only root, own network and PID namespaces.
# ---------------------------------------------------------------------------------------
inside() {
  local bin=/opt/smoke/bin/gatehouse
  local pids=()
  cleanup_inside() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
  trap cleanup_inside EXIT

  # Identity and file system, as the image's USER and readOnlyRootFilesystem give them.
  [[ "$(id -u):$(id -g)" == "$SMOKE_USER" ]] || fail "running as $(id -u):$(id -g), expected $SMOKE_USER"
  grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/self/status || fail "process has capabilities"
  for probe in /gatehouse-probe /etc/gatehouse-probe /usr/local/bin/gatehouse-probe /var/lib/gatehouse-probe /tmp/gatehouse-probe; do
    if (: > "$probe") 2>/dev/null; then fail "root file system is writable: created $probe"; fi
  done
  : > /var/lib/gatehouse/.write-probe || fail "volume /var/lib/gatehouse is not writable"
  rm -f /var/lib/gatehouse/.write-probe
  note "uid $(id -u) gid $(id -g), no capabilities; root file system read-only (writes to /, /etc, /usr, /tmp fail); /var/lib/gatehouse writable"

  # The app (and API) upstream, beside Gatehouse on loopback like the app container in a pod.
  local owner_key
  owner_key=$(cat /run/secrets/owner_api_key)
  "$bin" demo-upstream --listen 127.0.0.1:3000 --owner-key "$owner_key" >&3 2>&3 &
  pids+=($!)

  # Gatehouse: exactly the image's environment, entrypoint and command.
  local -a env_args
  mapfile -t env_args < <(printf '%s\n' "$SMOKE_IMAGE_ENV" "$SMOKE_RUN_ENV" | grep -v '^$')
  local -a cmd
  read -r -a cmd <<< "$SMOKE_CMD"
  cd "$SMOKE_WORKDIR"
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME="$(cat /proc/sys/kernel/hostname)" \
    "${env_args[@]}" "$bin" "${cmd[@]}" >&3 2>&3 &
  local gh=$!
  pids+=("$gh")
  note "started: env -i ${env_args[*]} gatehouse ${cmd[*]} (pid $gh)"

  # Health: /healthz then /readyz on the admin port (what the kubelet probes).
  local status=""
  for _ in $(seq 1 100); do
    kill -0 "$gh" 2>/dev/null || fail "gatehouse exited early (see its log below)"
    status=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9090/healthz || true)
    [[ "$status" == 200 ]] && break
    sleep 0.1
  done
  [[ "$status" == 200 ]] || fail "/healthz on :9090 answered '$status', expected 200"
  for _ in $(seq 1 100); do
    status=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9090/readyz || true)
    [[ "$status" == 200 ]] && break
    sleep 0.1
  done
  [[ "$status" == 200 ]] || fail "/readyz on :9090 answered '$status', expected 200"
  note "admin :9090 /healthz 200, /readyz 200"

  # The Dockerfile's HEALTHCHECK command, verbatim.
  local -a hc
  read -r -a hc <<< "$SMOKE_HEALTHCHECK"
  "${hc[@]}" || fail "HEALTHCHECK command failed: ${hc[*]}"
  note "HEALTHCHECK (${hc[*]}) exit 0"

  # The gate. Gatehouse strips /_api (strip_prefix: true) and the API upstream URL's base
  # path /_api puts it back, which is where the demo upstream serves its API.
  local url=http://127.0.0.1:8080/_api/hello out body code
  out=$(curl -s -D - -w '\n%{http_code}' "$url") || fail "no token: $url: no HTTP answer (curl exit $?)"
  code=${out##*$'\n'}
  body=$(printf '%s' "$out" | sed -n '/^\r$/,$p' | sed '1d;$d')
  [[ "$code" == 401 ]] || fail "no token: status $code, expected 401"
  [[ "$body" == '{"error":"unauthenticated","reason":"missing_token"}' ]] || fail "no token: body '$body'"
  printf '%s' "$out" | grep -qi '^www-authenticate: Bearer realm="gatehouse"' || fail "no token: no WWW-Authenticate header"
  note "no token -> 401 $body"

  body=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $SMOKE_BAD_TOKEN" "$url") || fail "foreign-key token: no HTTP answer (curl exit $?)"
  [[ "$body" == $'{"error":"unauthenticated","reason":"bad_signature"}\n401' ]] || fail "foreign-key token: got '$body'"
  note "token signed by another key -> 401 bad_signature"

  body=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $SMOKE_TOKEN" "$url") || fail "valid token: no HTTP answer (curl exit $?)"
  [[ "${body##*$'\n'}" == 200 ]] || fail "valid token: got '$body', expected 200"
  [[ "$body" == *'"user":"user_smoke"'* && "$body" == *'"owner_key_received":true'* ]] \
    || fail "valid token: upstream did not see the user and the owner key: '$body'"
  note "valid token -> 200 ${body%$'\n'*}"

  body=$(curl -s -w '\n%{http_code}' http://127.0.0.1:8080/) || fail "app route: no HTTP answer (curl exit $?)"
  [[ "${body##*$'\n'}" == 200 && "$body" == *'<script data-gatehouse src="/_auth/sdk.js">'* ]] \
    || fail "app route: no 200 with the injected SDK tag"
  note "app route / -> 200 with the SDK injected"

  body=$(curl -s http://127.0.0.1:9090/metrics) || fail "/metrics: no HTTP answer (curl exit $?)"
  [[ "$body" == *'gatehouse_gate_decisions_total'* ]] || fail "/metrics has no gatehouse_gate_decisions_total"

  # Metering: one record in <volume>/meter/<org>/<UTC day>.<instance = host name>.jsonl.
  local file="" day
  day=$(date -u +%F)
  for _ in $(seq 1 50); do
    file=/var/lib/gatehouse/meter/org_smoke/$day.$(cat /proc/sys/kernel/hostname).jsonl
    [[ -s "$file" ]] && break
    sleep 0.1
  done
  [[ -s "$file" ]] || fail "no meter log at $file: $(ls -lR /var/lib/gatehouse/meter 2>&1)"
  local record
  record=$(cat "$file")
  [[ $(printf '%s\n' "$record" | wc -l) == 1 ]] || fail "expected one meter record (the 401s are not billed), got: $record"
  for field in '"org":"org_smoke"' '"app":"app_smoke"' '"user":"user_smoke"' '"method":"GET"' \
               '"path":"/_api/hello"' '"status":200' '"outcome":"ok"' '"ts":"'"$day"'T' '"request_id":"' \
               '"req_bytes":0' '"resp_bytes":' '"duration_ms":'; do
    [[ "$record" == *"$field"* ]] || fail "meter record lacks $field: $record"
  done
  note "meter record ${file#/var/lib/gatehouse/}: $record"

  local report
  report=$("$bin" meter report --dir /var/lib/gatehouse/meter --org org_smoke --by user --format json) \
    || fail "gatehouse meter report exited $?"
  [[ "$report" == *'"key":"user_smoke"'* && "$report" == *'"calls":1'* && "$report" == *'"errors":0'* ]] \
    || fail "meter report: $report"
  note "meter report --by user --format json: $report"

  local rss hwm
  rss=$(awk '/^VmRSS/ {print $2 " " $3}' "/proc/$gh/status")
  hwm=$(awk '/^VmHWM/ {print $2 " " $3}' "/proc/$gh/status")
  note "gatehouse RSS $rss (peak $hwm)"

  # Stop as the container runtime does (STOPSIGNAL SIGTERM): drain, flush, exit 0.
  kill -TERM "$gh"
  local rc=0 waited=0
  while kill -0 "$gh" 2>/dev/null && (( waited < 100 )); do sleep 0.1; waited=$((waited + 1)); done
  kill -0 "$gh" 2>/dev/null && fail "gatehouse still running 10 s after SIGTERM"
  wait "$gh" || rc=$?
  [[ "$rc" == 0 ]] || fail "gatehouse exited $rc after SIGTERM, expected 0"
  note "SIGTERM -> exit 0"
}

if [[ "${1:-}" == "--inside" ]]; then
  inside
  exit 0
fi

# ---------------------------------------------------------------------------------------
# Outside: build, read the Dockerfile, prepare the volume and secrets, start the sandbox.
# ---------------------------------------------------------------------------------------
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="/opt/swift/usr/bin:$PATH"
[[ $(id -u) == 0 ]] || fail "run as root (the sandbox switches to the image's uid itself)"
if ! command -v bwrap >/dev/null; then
  note "installing bubblewrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null || fail "cannot install bubblewrap"
fi
for tool in bwrap setpriv openssl curl strip; do command -v "$tool" >/dev/null || fail "$tool is missing"; done

# The same build as the Dockerfile's build stage (SWIFT_LTO= builds without link-time
# optimisation, SWIFT_LAYOUT= in the linker's default order, as the build args do there).
BUILD=(swift build -c release --static-swift-stdlib --product gatehouse --scratch-path .build-static ${SWIFT_LTO---experimental-lto-mode=full} ${SWIFT_LAYOUT--Xlinker --call-graph-ordering-file=$ROOT/deploy/call-graph.txt -Xlinker --no-warn-symbol-ordering} ${SWIFT_BUILD_FLAGS:-})
if [[ -z "${SMOKE_SKIP_BUILD:-}" ]]; then
  note "${BUILD[*]}"
  "${BUILD[@]}" 2>&1 | tail -n 3 || fail "build failed"
fi
BIN="$(swift build -c release --scratch-path .build-static --show-bin-path)/gatehouse"
[[ -n "${SMOKE_BIN:-}" ]] && BIN=$SMOKE_BIN   # another build, for iterating on this script
[[ -x "$BIN" ]] || fail "no binary at $BIN"
if ldd "$BIN" | grep -q 'not found'; then ldd "$BIN"; fail "unresolved shared libraries"; fi
if [[ -z "${SMOKE_BIN:-}" ]] && ldd "$BIN" | grep -q 'libswift'; then
  fail "the Swift runtime is linked dynamically (expected --static-swift-stdlib)"
fi
note "shared libraries: $(ldd "$BIN" | awk '{print $1}' | grep -v '^linux-vdso' | tr '\n' ' ')"

# What the Dockerfile says. One `ENV NAME=VALUE` per line (see the Dockerfile).
DOCKERFILE="$ROOT/Dockerfile"
if grep -E '^ENV ' "$DOCKERFILE" | grep -vqE '^ENV [A-Z_][A-Z0-9_]*=[^ "\\]+$'; then
  fail "Dockerfile: every ENV line must be a single NAME=VALUE without spaces or quotes"
fi
IMAGE_ENV=$(grep -E '^ENV ' "$DOCKERFILE" | sed 's/^ENV //')
[[ -n "$IMAGE_ENV" ]] || fail "Dockerfile has no ENV lines"
json_words() { sed -E 's/^[^[]*\[(.*)\][[:space:]]*$/\1/; s/"[[:space:]]*,[[:space:]]*"/ /g; s/"//g'; }
ENTRYPOINT=$(grep -E '^ENTRYPOINT \[' "$DOCKERFILE" | tail -n 1 | json_words)
CMD=$(grep -E '^CMD \[' "$DOCKERFILE" | tail -n 1 | json_words)
[[ "$ENTRYPOINT" == /usr/local/bin/gatehouse ]] || fail "unexpected ENTRYPOINT '$ENTRYPOINT'"
WORKDIR=$(grep -E '^WORKDIR ' "$DOCKERFILE" | tail -n 1 | awk '{print $2}')
USER_SPEC=$(grep -E '^USER ' "$DOCKERFILE" | tail -n 1 | awk '{print $2}')
[[ "$USER_SPEC" =~ ^[0-9]+:[0-9]+$ ]] || fail "Dockerfile USER must be numeric uid:gid, is '$USER_SPEC'"
SMOKE_UID=${USER_SPEC%:*}; SMOKE_GID=${USER_SPEC#*:}
HEALTHCHECK=$(awk '/^HEALTHCHECK/ {h = 1} h {line = line $0; if ($0 !~ /\\$/) {print line; exit}}' "$DOCKERFILE" \
  | sed 's/\\//g' | sed -E 's/.*[[:space:]]CMD[[:space:]]+//' | json_words)
[[ "$HEALTHCHECK" == *"/healthz"* ]] || fail "HEALTHCHECK does not probe /healthz: '$HEALTHCHECK'"
VOLUME_DIR=$(grep -E '^VOLUME ' "$DOCKERFILE" | json_words)
[[ "$VOLUME_DIR" == /var/lib/gatehouse ]] || fail "unexpected VOLUME '$VOLUME_DIR'"

# A scratch folder: the image's files, the volume, the secrets.
WORK=$(mktemp -d /tmp/gatehouse-smoke.XXXXXX)
SANDBOX_PID=""
cleanup() {
  local rc=$?
  [[ -n "$SANDBOX_PID" ]] && kill "$SANDBOX_PID" 2>/dev/null || true
  if [[ $rc != 0 && -s "$WORK/gatehouse.log" ]]; then
    echo "---- last lines of the gatehouse/upstream log ----" >&2
    tail -n 30 "$WORK/gatehouse.log" >&2
  fi
  if [[ -n "${SMOKE_KEEP:-}" ]]; then echo "container-smoke: kept $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 0755 "$WORK"
install -d -m 0755 "$WORK/image/bin" "$WORK/secrets" "$WORK/keys"
install -m 0755 "$BIN" "$WORK/image/bin/gatehouse"          # COPY --from=build, stripped as there
strip --strip-debug "$WORK/image/bin/gatehouse"
install -m 0755 "$0" "$WORK/image/container-smoke.sh"
# The volume as the image lays it out (docker copies these into a fresh named volume).
install -d -o "$SMOKE_UID" -g "$SMOKE_GID" -m 0750 "$WORK/volume" "$WORK/volume/meter" "$WORK/volume/users"

# Keys: an Ed25519 issuer key (the public half is the app's jwt_key secret) and a stranger's.
openssl genpkey -algorithm ed25519 -out "$WORK/keys/issuer.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$WORK/keys/stranger.pem" 2>/dev/null
openssl pkey -in "$WORK/keys/issuer.pem" -pubout -out "$WORK/secrets/jwt_public_key.pem"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/^/sk_owner_/' > "$WORK/secrets/owner_api_key"
echo >> "$WORK/secrets/owner_api_key"   # a trailing newline, as `echo key > file` leaves it
# Secrets as compose/Kubernetes mount them: root-owned, readable by the group.
chown root:"$SMOKE_GID" "$WORK/secrets"/*; chmod 0440 "$WORK/secrets"/*
MINT=("$BIN" token mint --sub user_smoke --email smoke@example.com --iss https://issuer.smoke.test --aud app_smoke --ttl 10m)
TOKEN=$("${MINT[@]}" --key "$WORK/keys/issuer.pem")
BAD_TOKEN=$("${MINT[@]}" --key "$WORK/keys/stranger.pem")

# The run-time configuration an operator adds (the compose file sets the same names,
# with Clerk instead of a static key).
RUN_ENV="GATEHOUSE_UPSTREAM=http://127.0.0.1:3000
GATEHOUSE_API_UPSTREAM=http://127.0.0.1:3000/_api
GATEHOUSE_OWNER_KEY_FILE=/run/secrets/owner_api_key
GATEHOUSE_ORG=org_smoke
GATEHOUSE_APP=app_smoke
GATEHOUSE_AUTH_MODE=jwt
GATEHOUSE_ISSUER=https://issuer.smoke.test
GATEHOUSE_AUDIENCE=app_smoke
CLERK_JWT_KEY_FILE=/run/secrets/jwt_public_key.pem"

note "image env: $(echo $IMAGE_ENV)"
note "entrypoint: $ENTRYPOINT $CMD; workdir $WORKDIR; user $USER_SPEC; volume $VOLUME_DIR"

# Mounts: the host's / read-only; /var/lib is an empty read-only tmpfs holding only the
# mount point for the volume (bwrap cannot create one on the read-only host root); /run the
# same for the secrets; /opt/smoke the "image" files. New PID, network (loopback only),
# IPC and UTS namespaces; the host name is the meter instance, as a pod name would be.
SANDBOX=(bwrap --die-with-parent --unshare-pid --unshare-net --unshare-ipc --unshare-uts
  --hostname gatehouse-smoke
  --ro-bind / /
  --dev /dev --proc /proc
  --tmpfs /var/lib --dir /var/lib/gatehouse --remount-ro /var/lib
  --bind "$WORK/volume" /var/lib/gatehouse
  --tmpfs /run --dir /run/secrets --remount-ro /run
  --ro-bind "$WORK/secrets" /run/secrets
  --tmpfs /opt --dir /opt/smoke --remount-ro /opt
  --ro-bind "$WORK/image" /opt/smoke
  --cap-add CAP_SETUID,CAP_SETGID
  --chdir /
  -- setpriv --reuid="$SMOKE_UID" --regid="$SMOKE_GID" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs
  /usr/bin/env SMOKE_USER="$USER_SPEC" SMOKE_IMAGE_ENV="$IMAGE_ENV" SMOKE_RUN_ENV="$RUN_ENV" SMOKE_CMD="$CMD"
  SMOKE_WORKDIR="$WORKDIR" SMOKE_HEALTHCHECK="$HEALTHCHECK" SMOKE_TOKEN="$TOKEN" SMOKE_BAD_TOKEN="$BAD_TOKEN"
  bash /opt/smoke/container-smoke.sh --inside)

"${SANDBOX[@]}" 3>"$WORK/gatehouse.log" &
SANDBOX_PID=$!
rc=0
wait "$SANDBOX_PID" || rc=$?
SANDBOX_PID=""
[[ $rc == 0 ]] || fail "sandboxed run failed (exit $rc)"

# From outside: the volume holds the record, owned by the image's uid, mode 0640.
RECORD=$(find "$WORK/volume/meter/org_smoke" -name '*.gatehouse-smoke.jsonl' | head -n 1)
[[ -n "$RECORD" ]] || fail "no meter file on the volume"
[[ "$(stat -c '%u:%g %a' "$RECORD")" == "$SMOKE_UID:$SMOKE_GID 640" ]] \
  || fail "meter file owner/mode $(stat -c '%u:%g %a' "$RECORD"), expected $SMOKE_UID:$SMOKE_GID 640"
note "volume after shutdown: $(cd "$WORK/volume" && find . -type f | sort | tr '\n' ' ')"
echo "container-smoke: PASS"
