#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the tests, idempotently, and prints the line that
# points the tests at it:
#
#   eval "$(scripts/postgres-test-server.sh)"   # exports GATEHOUSE_TEST_POSTGRES_URL
#
# Installs Debian's postgresql when no server binaries are found (needs root and
# apt-get), initdb's a cluster in $GATEHOUSE_PG_DIR (default /tmp/gatehouse-pg) as the
# `postgres` user (initdb refuses root), starts it on 127.0.0.1:$GATEHOUSE_PG_PORT
# (default 54329) with password auth over TCP, and creates the superuser role
# gatehouse/gatehouse the tests create and drop their own databases with. Running it
# again with the server up only prints the line. Everything but that line goes to stderr.
# Stop it with: runuser -u postgres -- pg_ctl -D /tmp/gatehouse-pg/data stop
set -euo pipefail

PORT="${GATEHOUSE_PG_PORT:-54329}"
DIR="${GATEHOUSE_PG_DIR:-/tmp/gatehouse-pg}"
ROLE=gatehouse
PASSWORD=gatehouse

log() { echo "postgres-test-server: $*" >&2; }

find_bin() {
  local candidate
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then echo "$candidate"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

if ! BIN="$(find_bin)"; then
  log "no PostgreSQL server binaries; installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq postgresql >&2
  BIN="$(find_bin)" || { log "PostgreSQL binaries still missing after apt-get install"; exit 1; }
fi
PSQL="$BIN/psql"
[ -x "$PSQL" ] || PSQL="$(command -v psql)"

# initdb and the server refuse to run as root: run them as `postgres`.
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  as_pg() { runuser -u postgres -- "$@"; }
  mkdir -p "$DIR"
  chown postgres: "$DIR"
  chmod 700 "$DIR"
else
  as_pg() { "$@"; }
  mkdir -p "$DIR"
  chmod 700 "$DIR"
fi

DATA="$DIR/data"
if [ ! -f "$DATA/PG_VERSION" ]; then
  log "initdb in $DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
fi

if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  log "starting on 127.0.0.1:$PORT"
  # Test-only settings: no fsync (a crash loses nothing we keep), room for the
  # connection pools of tests that run in parallel.
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2 \
    || { log "start failed; the server log says:"; tail -n 20 "$DIR/server.log" >&2; exit 1; }
fi

for _ in $(seq 1 60); do
  if as_pg "$PSQL" -h "$DIR" -p "$PORT" -U postgres -d postgres -Atqc "SELECT 1" >/dev/null 2>&1; then break; fi
  sleep 0.5
done

as_pg "$PSQL" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q >&2 <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN SUPERUSER PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
SQL

echo "export GATEHOUSE_TEST_POSTGRES_URL=postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/postgres"
