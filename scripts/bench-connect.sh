#!/usr/bin/env bash
# The Connect figures in BENCHMARKS.md ("Connect (issue 13)"): starts a
# release broker and a private PostgreSQL server (initdb into a temp dir,
# a free port, default durability settings; as root it runs as the
# `postgres` user), runs `fjord bench connect` RUNS times per figure, and
# stops both. Needs Debian's postgresql package.
#
#   scripts/bench-connect.sh [RUNS]        (default 3; report the median)
#   BENCHES="pg-alo pg-eos" scripts/bench-connect.sh 1   (a subset)
#
# Figures: file (file source -> topic), sqlite-alo, sqlite-eos, pg-alo,
# pg-eos, pg-alo-big / pg-eos-big (5,000 records per transaction);
# not in the default set: pg-alo-2tasks / pg-eos-2tasks (2 tasks, 2 partitions).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
BENCHES=${BENCHES:-"file sqlite-alo sqlite-eos pg-alo pg-eos pg-alo-big pg-eos-big"}
[ -n "${NO_BUILD:-}" ] || cargo build --release -p fjord >/dev/null
FJORD=$PWD/target/release/fjord
WORK=$(mktemp -d /tmp/fjord-bench-connect.XXXXXX)
chmod 755 "$WORK"  # the postgres user reaches its data dir through it
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }

BROKER= PG=
cleanup() {
  [ -z "$BROKER" ] || { kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; }
  [ -z "$PG" ] || { kill "$PG" 2>/dev/null || true; wait "$PG" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ)"

KPORT=$(free_port)
B=127.0.0.1:$KPORT
mkdir -p "$WORK/broker"
$FJORD serve --listen "$B" --data-dir "$WORK/broker" --no-registry --no-connect 2>"$WORK/broker.log" &
BROKER=$!
wait_port "$KPORT"

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGPORT=$(free_port)
mkdir -p "$WORK/pg"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" != 0 ] || chown postgres "$WORK/pg"
as_pg "$PG_BIN/initdb" -D "$WORK/pg/data" -U bench --auth=trust >/dev/null
as_pg "$PG_BIN/postgres" -D "$WORK/pg/data" -p "$PGPORT" -k "$WORK/pg" \
  -c listen_addresses=127.0.0.1 2>"$WORK/pg/postgres.log" &
PG=$!
wait_port "$PGPORT"
PGURL="jdbc:postgresql://127.0.0.1:$PGPORT/postgres?user=bench"
echo "== PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on $PGPORT (fsync=on, synchronous_commit=on: the defaults)"

bench() {
  local name=$1; shift
  for i in $(seq "$RUNS"); do
    echo
    echo "== $name run $i: fjord bench connect $* (load average $(cut -d' ' -f1 /proc/loadavg))"
    $FJORD bench connect "$@" -b "$B" 2>&1
  done
}

for b in $BENCHES; do
  case $b in
    file) bench file --test file-source ;;
    sqlite-alo) bench sqlite-alo --test jdbc-sink --guarantee at-least-once ;;
    sqlite-eos) bench sqlite-eos --test jdbc-sink --guarantee exactly-once ;;
    pg-alo) bench pg-alo --test jdbc-sink --database-url "$PGURL" --guarantee at-least-once ;;
    pg-eos) bench pg-eos --test jdbc-sink --database-url "$PGURL" --guarantee exactly-once ;;
    pg-alo-big) bench pg-alo-big --test jdbc-sink --database-url "$PGURL" --guarantee at-least-once --max-poll-records 5000 ;;
    pg-eos-big) bench pg-eos-big --test jdbc-sink --database-url "$PGURL" --guarantee exactly-once --max-poll-records 5000 ;;
    pg-alo-2tasks) bench pg-alo-2tasks --test jdbc-sink --database-url "$PGURL" --guarantee at-least-once --tasks 2 --partitions 2 ;;
    pg-eos-2tasks) bench pg-eos-2tasks --test jdbc-sink --database-url "$PGURL" --guarantee exactly-once --tasks 2 --partitions 2 ;;
    *) echo "unknown bench $b" >&2; exit 2 ;;
  esac
done
