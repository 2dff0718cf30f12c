# syntax=docker/dockerfile:1
#
# Gatehouse as a container: `docker build -t gatehouse .`
#
# Build stage: the official Swift image (Debian 12 "bookworm", the same Debian release as
# the runtime stage, so the shared libraries the binary was linked against are the ones it
# finds). The Swift runtime is linked statically (--static-swift-stdlib), BoringSSL and
# SQLite are compiled in (swift-nio-ssl, swift-crypto, sqlite-nio); what `ldd` still lists
# is libc/libm, libstdc++, libgcc_s, libz and libisal (see deploy/README.md).
# Override the toolchain with `--build-arg SWIFT_IMAGE=swift:6.2-bookworm` etc.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get -q update \
 && apt-get -q install -y --no-install-recommends libssl-dev zlib1g-dev libisal-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so they stay cached while the sources change.
COPY Package.* ./
RUN swift package resolve
COPY Sources ./Sources
# SwiftPM checks every declared target's folder, test targets included.
COPY Tests ./Tests
# The same command scripts/container-smoke.sh builds and runs.
# Debug info stripped (153 MB -> 104 MB); the symbol table stays for crash backtraces.
# Swift's runtime exclusivity checks stay on: an overlapping access traps instead of being
# undefined behaviour. --build-arg SWIFT_BUILD_FLAGS="-Xswiftc -enforce-exclusivity=unchecked"
# builds without them (~12% fewer instructions per request, 5-7% less CPU; README
# "Deployment" weighs it).
ARG SWIFT_BUILD_FLAGS=""
# Link-time optimisation across every module (NIO's, BoringSSL's and llhttp's C included):
# ~11% fewer instructions and ~12% less user CPU per proxied request, for a build about
# twice as long (Benchmarks/README.md, twenty-sixth round). --build-arg SWIFT_LTO= (empty)
# builds without it.
ARG SWIFT_LTO="--experimental-lto-mode=full"
# The request paths' code laid out together, callers beside callees, from the call graph
# scripts/hot-layout.sh measured: ~200 pages of code per request become ~96, ~5-8% fewer
# instruction-cache misses and ~5% less user CPU (Benchmarks/README.md, twenty-seventh
# round). --build-arg SWIFT_LAYOUT= (empty) links in the default order.
COPY deploy/call-graph.txt ./deploy/call-graph.txt
ARG SWIFT_LAYOUT="-Xlinker --call-graph-ordering-file=/src/deploy/call-graph.txt -Xlinker --no-warn-symbol-ordering"
RUN swift build -c release --static-swift-stdlib --product gatehouse --scratch-path .build-static $SWIFT_LTO $SWIFT_LAYOUT $SWIFT_BUILD_FLAGS \
 && install -D -m 0755 "$(swift build -c release --scratch-path .build-static --show-bin-path)/gatehouse" /out/gatehouse \
 && strip --strip-debug /out/gatehouse

FROM ${RUNTIME_IMAGE}
# Only what the binary links (ldd: libc6, libstdc++6, libgcc-s1, zlib1g — already in the
# slim image, named here so that stays true — and libisal2, ISA-L's igzip for re-encoding
# injected pages), CA certificates for https upstreams and
# JWKS, and curl for HEALTHCHECK (gatehouse has no health subcommand).
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get -q update \
 && apt-get -q install -y --no-install-recommends ca-certificates curl libc6 libgcc-s1 libstdc++6 zlib1g libisal2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gatehouse \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/gatehouse --no-create-home \
            --shell /usr/sbin/nologin gatehouse \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/gatehouse /var/lib/gatehouse/meter /var/lib/gatehouse/users
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse

# Configuration by environment alone (SPEC "Configuration"). These are the image's
# defaults; scripts/container-smoke.sh reads these ENV lines and runs the binary with
# exactly them, so keep one `ENV NAME=VALUE` per line. Listeners bind 0.0.0.0 so the
# kubelet's probes and the Service reach them. The app itself is configured at run time:
# GATEHOUSE_UPSTREAM, GATEHOUSE_API_UPSTREAM, GATEHOUSE_OWNER_KEY_FILE, GATEHOUSE_ORG,
# GATEHOUSE_APP, GATEHOUSE_AUTH_MODE, CLERK_PUBLISHABLE_KEY, CLERK_SECRET_KEY_FILE, ...
ENV GATEHOUSE_LISTEN=0.0.0.0:8080
ENV GATEHOUSE_ADMIN_LISTEN=0.0.0.0:9090
ENV GATEHOUSE_METER_DIR=/var/lib/gatehouse/meter
ENV GATEHOUSE_USERS_STORE=sqlite:/var/lib/gatehouse/users/gatehouse.db

WORKDIR /var/lib/gatehouse
# Meter logs (meter/<org>/<day>.<instance>.jsonl) and the SQLite user list (users/).
# Everything else is read-only: run with --read-only / readOnlyRootFilesystem.
VOLUME ["/var/lib/gatehouse"]
USER 10001:10001
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9090/healthz"]
# serve drains in-flight requests and flushes the meter logs on SIGTERM, then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
