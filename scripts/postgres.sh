#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the store's PostgreSQL tests.
#
#   eval "$(bash scripts/postgres.sh start)"   # prints: export HSI_TEST_POSTGRES=postgresql://...
#   .venv/bin/python -m pytest -q tests/test_store.py
#   bash scripts/postgres.sh stop
#
# Debian's server (apt-get install postgresql; any version) is used from its own
# folder (/usr/lib/postgresql/N/bin), on a fresh data folder in /tmp with trust
# authentication on 127.0.0.1 only, so it touches no system cluster. PostgreSQL
# refuses to run as root: as root the server runs as the `postgres` user.
#
# Environment:
#   HSI_PG_PORT   the port (default 55432)
#   HSI_PG_DIR    the data folder (default /tmp/hsi-postgres-$HSI_PG_PORT)
set -euo pipefail
port="${HSI_PG_PORT:-55432}"
dir="${HSI_PG_DIR:-/tmp/hsi-postgres-$port}"
url="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"

bindir() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$found" ] || [ ! -x "$found/pg_ctl" ]; then
    echo "postgres.sh: no PostgreSQL server found in /usr/lib/postgresql/*/bin." >&2
    echo "Install Debian's package first: apt-get install -y postgresql" >&2
    exit 2
  fi
  echo "$found"
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
  start)
    bin="$(bindir)"
    if [ -f "$dir/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      echo "export HSI_TEST_POSTGRES=$url"
      exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-sync \
      >"$dir.initdb.log" 2>&1 || { cat "$dir.initdb.log" >&2; exit 1; }
    # fsync off: a throwaway server whose data is never kept
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start \
      -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c max_connections=200" \
      >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "export HSI_TEST_POSTGRES=$url"
    ;;
  stop)
    if [ -d "$dir" ]; then
      bin="$(bindir)"
      as_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
      rm -rf "$dir" "$dir.initdb.log"
    fi
    ;;
  *)
    echo "usage: bash scripts/postgres.sh start|stop" >&2
    exit 2
    ;;
esac
