#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster:
#
#   bash scripts/pg.sh <command> [args...]
#   bash scripts/pg.sh cargo nextest run --features postgres --test backend_contract
#   bash scripts/pg.sh --replica <command> [args...]
#
# The cluster is created with initdb in a fresh directory under
# target/pg/, owned by an unprivileged user (the `postgres` system user
# when the script runs as root, else the caller), started with pg_ctl on a
# Unix socket in that directory and a free loopback port, with
# scram-sha-256 password authentication, and TLS on the same port with a
# certificate for `localhost` from a CA made for this cluster (openssl). The
# command runs with:
#
#   KEYLIFE_PG_URL      a connection string for the cluster (superuser keylife)
#   KEYLIFE_PG_DATA     the data directory
#   KEYLIFE_PG_CTL      a command prefix running pg_ctl on this cluster as
#                       its owner, e.g. `$KEYLIFE_PG_CTL restart -m immediate`
#   KEYLIFE_PG_CA       the CA certificate (PEM) that signed the server's
#   KEYLIFE_PG_OTHER_CA an unrelated CA certificate (for negative tests)
#
# With --replica, a second cluster streams from the first as its synchronous
# standby (pg_basebackup; synchronous_standby_names, synchronous_commit=on:
# a commit is acknowledged once the standby has it), and the command also
# gets:
#
#   KEYLIFE_PG_FAILOVER_URL  both servers, target_session_attrs=read-write
#   KEYLIFE_PG_STANDBY_CTL   pg_ctl on the standby (e.g. `promote`)
#
# Afterwards the cluster is stopped and its directory deleted, also when the
# command fails or the script is interrupted. PostgreSQL comes from Debian's
# packages, installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
replica=0
if [ "${1:-}" = "--replica" ]; then replica=1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--replica] <command> [args...]" >&2; exit 2; }

find_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}
bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  SUDO=$(command -v sudo >/dev/null 2>&1 && [ "$(id -u)" != 0 ] && echo sudo || true)
  echo "==> installing PostgreSQL (Debian packages)" >&2
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bindir=$(find_bindir)
  # The package starts a system cluster of its own; the tests never use it.
fi

# initdb refuses to run as root: the cluster belongs to an unprivileged user.
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  id "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
  as_owner=(runuser -u "$owner" --)
else
  owner=$(id -un)
  as_owner=()
fi

mkdir -p target/pg
dir=$(mktemp -d "$PWD/target/pg/cluster.XXXXXX")
chmod 755 "$dir"
data="$dir/data"
log="$dir/server.log"
pwfile="$dir/pw"
# A fresh password per cluster: tests check that it never appears in errors.
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$password" > "$pwfile"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# TLS: a CA, a server certificate for DNS name localhost (not for the
# address 127.0.0.1, so that verify-full to 127.0.0.1 must fail), and an
# unrelated CA.
if ! command -v openssl >/dev/null 2>&1; then
  SUDO=$(command -v sudo >/dev/null 2>&1 && [ "$(id -u)" != 0 ] && echo sudo || true)
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
(
  cd "$dir"
  for ca in ca other-ca; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=keylife test $ca" -keyout "$ca.key" -out "$ca.pem" 2>/dev/null
  done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.pem 2>/dev/null
  chmod 600 server.key
  rm -f ca.key other-ca.key server.csr server.ext ca.srl
)
[ "$(id -u)" = 0 ] && chown -R "$owner" "$dir"

ctl=("${as_owner[@]}" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60)
sdata="$dir/standby"
slog="$dir/standby.log"
sctl=("${as_owner[@]}" "$bindir/pg_ctl" -D "$sdata" -l "$slog" -w -t 60)
cleanup() {
  local rc=$?
  "${ctl[@]}" stop -m immediate >/dev/null 2>&1 || true
  if [ -d "$sdata" ]; then "${sctl[@]}" stop -m immediate >/dev/null 2>&1 || true; fi
  if [ $rc -ne 0 ] && [ -f "$log" ]; then
    echo "==> PostgreSQL server log (last 30 lines)" >&2
    tail -n 30 "$log" >&2 || true
    if [ -f "$slog" ]; then
      echo "==> standby log (last 30 lines)" >&2
      tail -n 30 "$slog" >&2 || true
    fi
  fi
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${as_owner[@]}" "$bindir/initdb" -D "$data" -U keylife --pwfile="$pwfile" \
  --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
rm -f "$pwfile"
cat >> "$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
ssl = on
ssl_cert_file = '$dir/server.pem'
ssl_key_file = '$dir/server.key'
fsync = on
synchronous_commit = on
EOF
"${ctl[@]}" start >/dev/null

if [ "$replica" = 1 ]; then
  sport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as_owner[@]}" env PGPASSWORD="$password" "$bindir/pg_basebackup" -D "$sdata" \
    -h 127.0.0.1 -p "$port" -U keylife -X stream -c fast
  printf "port = %s\nsynchronous_standby_names = ''\n" "$sport" >> "$sdata/postgresql.conf"
  printf "primary_conninfo = 'host=127.0.0.1 port=%s user=keylife password=%s application_name=standby1'\n" \
    "$port" "$password" >> "$sdata/postgresql.auto.conf"
  "${as_owner[@]}" touch "$sdata/standby.signal"
  "${sctl[@]}" start >/dev/null
  # Only now make the standby synchronous: from here on a commit on the
  # primary waits until the standby has it.
  printf "synchronous_standby_names = 'standby1'\n" >> "$data/postgresql.conf"
  "${ctl[@]}" reload >/dev/null
  state=
  for _ in $(seq 1 100); do
    state=$(PGPASSWORD="$password" "$bindir/psql" -h 127.0.0.1 -p "$port" -U keylife -d postgres -Atc \
      "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'" 2>/dev/null || true)
    [ "$state" = sync ] && break
    sleep 0.1
  done
  [ "$state" = sync ] || { echo "the standby did not become synchronous" >&2; exit 1; }
  export KEYLIFE_PG_FAILOVER_URL="host=127.0.0.1,127.0.0.1 port=$port,$sport user=keylife password=$password dbname=postgres target_session_attrs=read-write"
  export KEYLIFE_PG_STANDBY_CTL="${as_owner[*]} $bindir/pg_ctl -D $sdata -l $slog -w -t 60"
  echo "==> synchronous standby on 127.0.0.1:$sport" >&2
fi

export KEYLIFE_PG_URL="host=127.0.0.1 port=$port user=keylife password=$password dbname=postgres"
export KEYLIFE_PG_DATA="$data"
export KEYLIFE_PG_CA="$dir/ca.pem"
export KEYLIFE_PG_OTHER_CA="$dir/other-ca.pem"
export KEYLIFE_PG_CTL="${as_owner[*]} $bindir/pg_ctl -D $data -l $log -w -t 60"
echo "==> PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)" >&2
"$@"
