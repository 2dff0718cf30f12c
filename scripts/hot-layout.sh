#!/usr/bin/env bash
# Writes deploy/call-graph.txt: which function calls which, how often, on the request paths
# of a release build, for the linker to lay the hot code out together
# (`ld.lld --call-graph-ordering-file`, as the Dockerfile and scripts/bench.sh link).
#
#   scripts/hot-layout.sh [BINARY]     (default: .build-static/release/gatehouse)
#
# Why: one proxied request runs ~58,000 instructions through ~350 functions, nearly every
# instruction once, so its code (~110 KB) is larger than the instruction cache, and the
# linker's default order scatters it over ~200 pages of a 150 MB binary. Placed by call
# graph (lld's C3 ordering), callers beside their callees, it fits in ~96 pages: fewer
# instruction-TLB and cache misses for the same instructions (Benchmarks/README.md,
# twenty-seventh round).
#
# How: scripts/instructions-per-request.sh runs each workload under callgrind (the cached-
# token /_api, a browser's /_api to a real API's answers, a POST with a body, a forged
# token, the 20 KB page plain and gzip-compressed) and keeps the profile; the call edges
# between the binary's own functions, summed over the workloads, become the file's
# "caller callee count" lines (mangled names, as the linker sees them).
#
# Run it on an LTO build (the image's, SWIFT_LTO's default): the names are the ones the
# link-time optimiser gives, and a build made with a stale file only places what it still
# finds (`--no-warn-symbol-ordering` keeps the linker quiet about the rest), so regenerate
# after changes to the request path, then rebuild. SwiftPM does not track the file: a
# rebuild after only the graph changed relinks nothing until the binary is removed
# (.build-static/x86_64-unknown-linux-gnu/release/gatehouse). Needs valgrind, nginx,
# openssl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-.build-static/release/gatehouse}
OUT=${OUT:-deploy/call-graph.txt}
N=${N:-1000}
[[ -x "$BIN" ]] || { echo "no binary at $BIN (build it as scripts/bench.sh does)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # name, then VAR=value... for instructions-per-request.sh, then the mode
  local name=$1; shift
  env N="$N" KEEP="$work/$name.out" CALLGRIND_OPTS="--demangle=no" "$@" >"$work/$name.log" 2>&1 \
    || { cat "$work/$name.log" >&2; exit 1; }
  head -1 "$work/$name.log"
}
run api UPSTREAM=nginx scripts/instructions-per-request.sh "$BIN" api
run browser UPSTREAM=nginx CLIENT=browser UPSTREAM_FIELDS=api scripts/instructions-per-request.sh "$BIN" api
run post UPSTREAM=nginx BODY=1024 scripts/instructions-per-request.sh "$BIN" api
run bad UPSTREAM=nginx scripts/instructions-per-request.sh "$BIN" bad
run html scripts/instructions-per-request.sh "$BIN" html
run gzip PAGE_CODING=gzip scripts/instructions-per-request.sh "$BIN" html

python3 - "$OUT" "$N" "$work"/*.out <<'PY'
import collections, re, sys
out, requests, profiles = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
total = collections.Counter()
for path in profiles:
    edges = collections.Counter()
    names, objects = {}, {}
    object_of = {}            # function -> object file it is in
    fn = callee = callee_object = current_object = None

    def named(token, table):
        # callgrind compresses names: "(12) name" the first time, "(12)" after.
        m = re.match(r"\((\d+)\)(?: (.*))?$", token)
        if not m:
            return token
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1))

    for line in open(path):
        if line.startswith("ob="):
            current_object = named(line[3:].strip(), objects)
        elif line.startswith("cob="):
            callee_object = named(line[4:].strip(), objects)
        elif line.startswith("fn="):
            fn = re.sub(r"'\d+$", "", named(line[3:].strip(), names) or "")
            object_of[fn] = current_object
            callee_object = None
        elif line.startswith("cfn="):
            callee = re.sub(r"'\d+$", "", named(line[4:].strip(), names) or "")
            object_of.setdefault(callee, callee_object or current_object)
        elif line.startswith("calls="):
            count = int(line[6:].split()[0])
            if fn and callee and fn != callee:
                edges[(fn, callee)] += count
            callee_object = None

    # Only calls inside the binary (instructions-per-request.sh runs a stripped copy named
    # .../gatehouse), told once the whole profile has named every function's object.
    own = lambda f: (object_of.get(f) or "").endswith("/gatehouse") and not f.startswith("0x")
    total.update({edge: n for edge, n in edges.items() if own(edge[0]) and own(edge[1])})

# Edges taken at least once per ten requests (summed over the workloads); the rest is
# timers and rare paths, which would only dilute the hot clusters.
kept = [(c, e, n) for (c, e), n in total.most_common() if n * 10 >= requests]
with open(out, "w") as f:
    f.write("# Call graph of the request paths for ld.lld --call-graph-ordering-file:\n")
    f.write("# caller callee calls (mangled). Generated by scripts/hot-layout.sh; do not edit.\n")
    for caller, callee, n in kept:
        f.write(f"{caller} {callee} {n}\n")
print(f"{out}: {len(kept)} call edges between {len({x for c, e, _ in kept for x in (c, e)})} functions")
PY
echo "SwiftPM does not see this file change: remove the release binary before the next build to relink with it" >&2
