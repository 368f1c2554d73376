#!/usr/bin/env bash
# Runs every benchmark behind BENCHMARKS.md against a fresh release broker
# on this machine and prints the reports (the JSON summary lines included).
#
#   scripts/bench-all.sh [DATA_DIR]      (default: a temp dir, removed after)
#
# Client and broker share the machine, as the goals in BENCHMARKS.md assume.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p fjord >/dev/null
FJORD=target/release/fjord
DATA=${1:-$(mktemp -d /tmp/fjord-bench.XXXXXX)}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
B=127.0.0.1:$PORT

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== data dir: $DATA on $(df -h "$DATA" | awk 'NR==2 {print $1}')"
$FJORD serve --listen "$B" --data-dir "$DATA" 2>/tmp/fjord-bench-broker.log &
BROKER=$!
trap 'kill $BROKER 2>/dev/null || true; wait $BROKER 2>/dev/null || true; [ -n "${1:-}" ] || rm -rf "$DATA"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
sleep 1
echo "== idle broker RSS: $(grep VmRSS /proc/$BROKER/status | awk '{print $2, $3}')"

run() { echo; echo "== fjord bench $*"; $FJORD bench "$@" -b "$B" 2>&1 | grep -v '^  \(producer \|consumer \)\?librdkafka'; }
disk() { echo; echo "== fjord bench disk $*"; $FJORD bench disk --dir "$DATA" "$@"; }

disk --batch-size 1MiB --total 1GiB
run produce --record-size 100 --count 3000000 --acks 1
run produce --record-size 100 --count 4000000 --acks 1 --producers 2 --partitions 2
run produce --client-kind raw --record-size 100 --count 10000000 --acks 1
run produce --record-size 1024 --count 1000000 --acks all
run produce --client-kind raw --record-size 1024 --count 1000000 --acks all
disk --batch-size 1MiB --total 1GiB
run consume --record-size 100 --count 4000000
TOPIC=$($FJORD topic list -b "$B" | grep fjord-bench-consume | tail -1)
run consume --client-kind raw --topic "$TOPIC"
run e2e --rate 10000 --record-size 1024 --duration 10
echo
echo "== broker RSS after the runs: $(grep VmRSS /proc/$BROKER/status | awk '{print $2, $3}')"
