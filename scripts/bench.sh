#!/usr/bin/env bash
# Gatehouse beside nginx and HAProxy in one run: ../shared/bench/anchors.sh with the
# release `gatehouse serve` as the candidate, built as the container image builds it (the
# Swift runtime linked statically: about 12% less CPU per request than linked dynamically,
# whose every retain/release goes through the PLT and whose TLS through __tls_get_addr;
# STATIC=0 measures the dynamic build; and link-time optimisation, ~12% less user CPU, for
# a first build of 10-12 minutes instead of ~6 and ~5.5 minutes per rebuild: SWIFT_LTO= (empty)
# builds without it, e.g. while iterating) (one event loop on its own core, wrk and the
# upstream on the other; JWKS and tokens from the harness), then the candidate's rows and
# ratios written into README.md's performance section with the date, machine and command.
#
#   scripts/bench.sh                 # 1 round (~8 min)
#   ROUNDS=3 scripts/bench.sh        # medians and ranges over 3 rounds
#   NO_README=1 scripts/bench.sh     # print only
#   SUMMARY=/tmp/gatehouse-bench/run-…/summary.md scripts/bench.sh   # README from an earlier run
#
# Needs: apt-get install wrk nginx haproxy curl; python3 with `cryptography`.
# scripts/bench-quick.sh is the short loop (Gatehouse vs its demo upstream only).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ANCHORS=${ANCHORS:-$ROOT/../shared/bench/anchors.sh}
[[ -x "$ANCHORS" ]] || { echo "bench: $ANCHORS not found (the shared bench harness)" >&2; exit 1; }
export PATH="/opt/swift/usr/bin:$PATH"
for tool in wrk nginx haproxy curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing (apt-get install wrk nginx haproxy curl)" >&2; exit 1; }
done

# The container image's defaults (Dockerfile `ARG SWIFT_LTO`, `ARG SWIFT_LAYOUT`); empty when
# SWIFT_LTO= or SWIFT_LAYOUT= is given.
LTO=${SWIFT_LTO---experimental-lto-mode=full}
LAYOUT=${SWIFT_LAYOUT--Xlinker --call-graph-ordering-file=$ROOT/deploy/call-graph.txt -Xlinker --no-warn-symbol-ordering}
if [[ -z "${SUMMARY:-}" ]]; then
  if [[ "${STATIC:-1}" == 0 ]]; then
    BUILD=(swift build -c release --scratch-path .build-release --product gatehouse $LTO $LAYOUT ${SWIFT_BUILD_FLAGS:-})
  else
    BUILD=(swift build -c release --static-swift-stdlib --scratch-path .build-static --product gatehouse $LTO $LAYOUT ${SWIFT_BUILD_FLAGS:-})
  fi
  echo "== ${BUILD[*]}" >&2
  "${BUILD[@]}" >&2
  SCRATCH=$([[ "${STATIC:-1}" == 0 ]] && echo .build-release || echo .build-static)
  BIN="$ROOT/$SCRATCH/release/gatehouse"
  for var in $(compgen -e | grep '^GATEHOUSE_' || true); do unset "$var"; done

  export CANDIDATE_NAME=gatehouse
  # The harness sets CANDIDATE_PORT/UPSTREAM_URL/JWKS… (see its README); the single-app
  # environment variables are the whole configuration. One event loop: the proxy's core.
  export CANDIDATE_CMD="GATEHOUSE_EVENT_LOOPS=\${PROXY_CORES:-1} GATEHOUSE_USERS_STORE=sqlite:\$CANDIDATE_DIR/users.db exec $BIN serve"
  export ROUNDS=${ROUNDS:-1}
  LOG=$(mktemp)
  # Its exit status says whether an anchor misbehaved; the summary says what ran.
  status=0
  (cd "$(dirname "$ANCHORS")" && ./anchors.sh) 2>&1 | tee "$LOG" || status=$?
  # The harness names its run directory on its progress output.
  RUN_DIR=$(grep -o '/[^ ]*/gatehouse-bench/run-[^/]*' "$LOG" | tail -1 || true)
  SUMMARY="$RUN_DIR/summary.md"
  [[ $status -eq 0 ]] || echo "bench: anchors.sh exited with $status; see $RUN_DIR" >&2
fi
[[ -f "$SUMMARY" ]] || { echo "bench: no summary at $SUMMARY" >&2; exit 1; }
[[ -n "${NO_README:-}" ]] && exit 0

SCRATCH=${SCRATCH:-$([[ "${STATIC:-1}" == 0 ]] && echo .build-release || echo .build-static)}
# The layout flag shown with the repository's path (deploy/…), as the Dockerfile's reads.
python3 - "$SUMMARY" "${ROUNDS:-1}" "$SCRATCH" "$LTO" "${LAYOUT//$ROOT\//}" <<'PY'
import os, re, sys
summary, rounds, scratch = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
lto, layout = sys.argv[4].strip(), sys.argv[5].strip()
extra = os.environ.get("SWIFT_BUILD_FLAGS", "").strip()
flags = "".join(" " + f for f in (lto, layout, extra) if f)
image = lto == "--experimental-lto-mode=full" and layout == (
    "-Xlinker --call-graph-ordering-file=deploy/call-graph.txt -Xlinker --no-warn-symbol-ordering") and not extra
built = ("`swift build -c release --static-swift-stdlib" + flags + "` (" + ("as the container image" if image else "the container image with other flags") + ")" if scratch == ".build-static"
         else "`swift build -c release" + flags + "` (Swift runtime linked dynamically)")
def field(name):
    m = re.search(r"^- " + name + r": (.*)$", summary, re.M)
    return m.group(1) if m else "?"
# An earlier run's own round count (SUMMARY=…), not this invocation's default.
m = re.search(r"rounds=(\d+)", field("settings"))
rounds = m.group(1) if m else rounds
lines = summary.splitlines()
results = [l for l in lines if l.startswith("| ") and re.match(r"\| (direct-api|nginx-plain-api|haproxy-jwt-api|haproxy-jwt-bad|nginx-inject-html|cand-)", l)]
header = next(l for l in lines if l.startswith("| workload |"))
ratios = [l for l in lines if l.startswith("| candidate ")]
disturbed = next((l for l in lines if l.startswith("**Disturbed:**")), "")
checks = next((l for l in lines if re.match(r"^\d+ checks, \d+ failed", l)), "")
block = f"""Run {field('date_utc')} on {field('cpu')}, {field('os')}, kernel {field('kernel')}; {rounds} round(s);
{field('settings')}. Command: `scripts/bench.sh` (= `ROUNDS={rounds} CANDIDATE_NAME=gatehouse
CANDIDATE_CMD='GATEHOUSE_EVENT_LOOPS=${{PROXY_CORES:-1}} GATEHOUSE_USERS_STORE=sqlite:$CANDIDATE_DIR/users.db
exec {scratch}/release/gatehouse serve' ../shared/bench/anchors.sh`), built with {built}. Noise: {field('foreign CPU before start')}.
{disturbed} Correctness: {checks}

{header}
|{"|".join(["---"] * (header.count("|") - 1))}|
""" + "\n".join(results) + "\n\n| candidate ratio | formula | value |\n|---|---|---:|\n" + "\n".join(ratios) + "\n"
readme = open("README.md").read()
begin, end = "<!-- bench:begin (scripts/bench.sh writes this) -->\n", "<!-- bench:end -->"
i, j = readme.index(begin) + len(begin), readme.index(end)
open("README.md", "w").write(readme[:i] + block + readme[j:])
print("README.md: performance table updated", file=sys.stderr)
PY
