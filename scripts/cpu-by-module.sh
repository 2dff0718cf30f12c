#!/usr/bin/env bash
# Where a running Gatehouse's CPU goes, by module: samples the process with `perf` for a
# few seconds (while you load it, e.g. with wrk) and sorts the samples by what ran — the
# kernel, the Swift runtime (reference counting, exclusivity checks), Gatehouse's own
# code, NIO, llhttp, libc. Benchmarks/README.md's nineteenth round quotes its output.
#
#   scripts/cpu-by-module.sh PID [SECONDS]      (default 6 s; needs perf and python3)
#
# Every thread of the process is sampled; under load the event loop is nearly all of it.
set -euo pipefail
pid=${1:?usage: scripts/cpu-by-module.sh PID [SECONDS]}
seconds=${2:-6}
for tool in perf python3; do
    command -v "$tool" >/dev/null || { echo "cpu-by-module: $tool is missing (apt-get install linux-perf python3)" >&2; exit 1; }
done
data=$(mktemp)
trap 'rm -f "$data"' EXIT
perf record -q -F 1999 -p "$pid" -o "$data" -- sleep "$seconds" >/dev/null 2>&1
perf script -i "$data" -F ip,sym 2>/dev/null | python3 -c '
import collections, re, sys

def module(address, symbol):
    if address >= 0xffffffff00000000:
        return "kernel"
    if symbol.startswith(("swift_", "swift::", "_ZN5swift")) or "RefCount" in symbol:
        return "Swift runtime (reference counting, exclusivity, allocation)"
    if "llhttp" in symbol:
        return "llhttp"
    if re.match(r"\$s\d+(NIOCore|NIOPosix|NIOHTTP1|NIOSSL|NIOExtras|_NIO)", symbol):
        return "NIO"
    if re.match(r"\$s\d+Gatehouse", symbol):
        return "Gatehouse"
    if symbol.startswith("$s"):
        return "other Swift (standard library, packages)"
    return "libc and other C (malloc, memcpy, system-call wrappers, BoringSSL)"

counts = collections.Counter()
for line in sys.stdin:
    fields = line.split(None, 1)
    if not fields or not re.fullmatch(r"[0-9a-f]+", fields[0]):
        continue
    counts[module(int(fields[0], 16), fields[1].strip() if len(fields) > 1 else "")] += 1
total = sum(counts.values())
if total == 0:
    sys.exit("cpu-by-module: no samples (is the process busy, and may perf read it?)")
print(f"{total} samples")
for name, count in counts.most_common():
    print(f"{100 * count / total:5.1f}%  {name}")
'
