#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the tests of the Postgres-backed Dagster
# instance (deploy/dagster.yaml). Debian's `postgresql` package, installed when missing.
#
#   env="$(bash .ci/postgres.sh start)" && eval "$env"   # exports DAGSTER_PG_*, GUAP_PG_DIR
#   bash .ci/postgres.sh stop "$GUAP_PG_DIR"             # stops the server, removes its files
#
# `start` prints only `export` lines on stdout (progress goes to stderr). The server runs
# as the `postgres` user when started by root, from its own data folder under /tmp, on a
# free port, with its socket in that folder: it never touches the system's clusters.
# The role it creates may create databases, so each test can take a fresh one, and may
# signal backends: `DROP DATABASE ... WITH (FORCE)` must end an autovacuum worker that
# happens to be in the test's database, and such a worker belongs to no role.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

pg_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$dir" && -x "$dir/initdb" ]] && echo "$dir"
}

as_owner() {  # run a server-side command as the postgres user when we are root
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local bindir
  if ! bindir="$(pg_bindir)"; then
    command -v apt-get >/dev/null || { log "no PostgreSQL and no apt-get"; exit 1; }
    log "installing Debian's postgresql package"
    # The tests bring their own cluster: skip the package's default one.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/guap-ci.conf
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bindir="$(pg_bindir)" || { log "postgresql installed but no initdb found"; exit 1; }
  fi

  local dir port password
  dir="$(mktemp -d /tmp/guap-pg.XXXXXX)"
  chmod 755 "$dir"
  [[ "$(id -u)" == 0 ]] && chown postgres: "$dir"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

  as_owner "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 --no-locale --no-sync \
    --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log"
  # Durability is not needed for a test server: skip fsync for speed.
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=200" >/dev/null
  as_owner "$bindir/psql" -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE guap LOGIN CREATEDB PASSWORD '$password'" \
    -c "GRANT pg_signal_backend TO guap" \
    -c "CREATE DATABASE guap OWNER guap" >/dev/null
  log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)"

  cat <<EOF
export DAGSTER_PG_HOST=127.0.0.1
export DAGSTER_PG_PORT=$port
export DAGSTER_PG_USERNAME=guap
export DAGSTER_PG_PASSWORD=$password
export DAGSTER_PG_DB=guap
export GUAP_PG_DIR=$dir
EOF
}

stop() {
  local dir="${1:?usage: postgres.sh stop DIR}" bindir
  [[ -d "$dir/data" ]] || return 0
  if bindir="$(pg_bindir)"; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
