#!/usr/bin/env bash
# Starts a throwaway local PostgreSQL for the registry's PostgreSQL test run and prints the line that points the
# tests at it. Use:  source <(bash .ci/postgres.sh)
# Everything but the final `export` line goes to stderr, so the output can be sourced as it is.
# Installs Debian's postgresql when no server binaries are present; reuses a cluster that is already running.
set -euo pipefail

PORT="${MAAS_PG_PORT:-55432}"
DATA="${MAAS_PG_DIR:-/tmp/maas-postgres-$PORT}"
DATABASE="maas_test"

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then echo "$dir"; fi
}

BIN="$(find_bin)"
if [[ -z "$BIN" ]]; then
  if [[ "$(id -u)" != "0" ]]; then
    log "no PostgreSQL server found and not root: install Debian's 'postgresql' package, then run this again"
    exit 1
  fi
  log "installing Debian's postgresql package"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
  BIN="$(find_bin)"
  [[ -n "$BIN" ]] || { log "postgresql installed but no initdb found under /usr/lib/postgresql"; exit 1; }
fi

# initdb and postgres refuse to run as root: run them as the postgres user when we are root.
as_owner() {
  if [[ "$(id -u)" == "0" ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [[ "$(id -u)" == "0" ]] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

if ! as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "creating a cluster in $DATA"
    mkdir -p "$DATA"
    [[ "$(id -u)" == "0" ]] && chown postgres: "$DATA"
    chmod 700 "$DATA"
    # trust on loopback only: a test cluster that lives in /tmp and listens on 127.0.0.1 alone.
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
  fi
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  # fsync off: the cluster is throwaway and the tests create and drop many databases.
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >&2
fi

if ! as_owner "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'" | grep -q 1; then
  as_owner "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qc "CREATE DATABASE $DATABASE" >&2
fi

echo "export MAAS_TEST_POSTGRES='Host=127.0.0.1;Port=$PORT;Username=postgres;Database=$DATABASE'"
