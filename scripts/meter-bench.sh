#!/usr/bin/env bash
# `gatehouse meter report` over ~1 GB of meter logs: wall time and peak RSS.
# The logs are synthetic, written by the hidden `gatehouse meter generate` (the writer's
# own serialiser, MeterRecord.appendJSONLine) over 4 orgs x 30 days x 2 instances.
#
#   scripts/meter-bench.sh                 # builds release into .build-release
#   MIB=256 scripts/meter-bench.sh         # a smaller run
#   GATEHOUSE_BIN=path/to/gatehouse GEN_BIN=path/to/gatehouse scripts/meter-bench.sh
#
# GEN_BIN (the generator) may be any build that has `meter generate`, e.g. the debug one;
# GATEHOUSE_BIN (the one timed) should be a release build. METER_DIR keeps the logs
# (default: a temporary directory, removed on exit).
set -euo pipefail
cd "$(dirname "$0")/.."

MIB=${MIB:-1024}
SCRATCH=${SCRATCH_PATH:-.build-release}
if [[ -z "${GATEHOUSE_BIN:-}" ]]; then
  echo "== swift build -c release --scratch-path $SCRATCH --product gatehouse" >&2
  swift build -c release --scratch-path "$SCRATCH" --product gatehouse >&2
  GATEHOUSE_BIN="$SCRATCH/release/gatehouse"
fi
GEN_BIN=${GEN_BIN:-$GATEHOUSE_BIN}

if [[ -n "${METER_DIR:-}" ]]; then
  DIR=$METER_DIR
else
  DIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-meter-bench.XXXXXX")
  trap 'rm -rf "$DIR"' EXIT
fi

if [[ -z "$(ls -A "$DIR" 2>/dev/null)" ]]; then
  echo "== generating ${MIB} MiB of meter logs in $DIR" >&2
  "$GEN_BIN" meter generate --dir "$DIR" --mib "$MIB" >&2
fi
du -sh "$DIR" >&2

# Cold-ish and warm page cache: the second run is what a repeated report costs.
for run in 1 2; do
  echo "== run $run: gatehouse meter report --dir $DIR --by day" >&2
  /usr/bin/time -v "$GATEHOUSE_BIN" meter report --dir "$DIR" --by day >/tmp/meter-bench-report.$$ 2>/tmp/meter-bench-time.$$ || {
    cat /tmp/meter-bench-time.$$ >&2; exit 1; }
  grep -E "Elapsed \(wall clock\)|Maximum resident set size|User time|System time" /tmp/meter-bench-time.$$ >&2
  tail -n 3 /tmp/meter-bench-report.$$ >&2
done
rm -f /tmp/meter-bench-report.$$ /tmp/meter-bench-time.$$
