#!/usr/bin/env bash
# A throwaway PostgreSQL from Debian's `postgresql` package, for tests and benchmarks:
# a fresh cluster in a temporary directory, owned and run by an unprivileged user, on a
# free port of 127.0.0.1.
#
#   throwaway-postgres.sh start        prints DATABASE_URL=... and PGDATA=... and returns
#                                      once the server accepts connections
#   throwaway-postgres.sh stop PGDATA  stops that server and deletes its directory
#   throwaway-postgres.sh halt PGDATA  stops it, keeping its data (an outage)
#   throwaway-postgres.sh resume PGDATA starts it again on its port
#
# Needs: the postgresql package (`apt-get install postgresql`; .ci/run installs it).
# Without it, `start` exits with 2, which the tests take for "skip the PostgreSQL suite".
set -euo pipefail

# POSTGRES_BIN names the directory of initdb and pg_ctl; by default, the newest of Debian's.
bin=${POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)}
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
  echo "no PostgreSQL server: install Debian's postgresql package" >&2
  exit 2
fi

# initdb and postgres refuse to run as root: run them as `postgres` (the package's user)
# when this is root, as this user otherwise.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
  start)
    dir=$(mktemp -d /tmp/throwaway-postgres.XXXXXX)
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" >"$dir/options"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$(cat "$dir/options")" start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
    echo "DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
    echo "PGDATA=$dir"
    ;;
  halt)
    dir=${2:?usage: $0 halt PGDATA}
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    ;;
  resume)
    dir=${2:?usage: $0 resume PGDATA}
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$(cat "$dir/options")" start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    dir=${2:?usage: $0 stop PGDATA}
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start | stop PGDATA | halt PGDATA | resume PGDATA" >&2
    exit 2
    ;;
esac
