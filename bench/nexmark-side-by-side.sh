#!/usr/bin/env bash
# Nexmark on Fjord's engine and on Apache Flink 2.0, one after the other on
# the same topics and broker: prints one JSON line per run (engine, query,
# guarantee, events/s, CPU-seconds per million events).
#
#   bench/nexmark-side-by-side.sh [--events N] [--queries "q0 q1 ..."]
#       [--guarantees "at-least-once exactly-once"] [-b HOST:PORT]
#
# Needs a release build (cargo build --release -p fjord) and a broker
# (fjord serve, or any Kafka cluster); bench/flink/setup.sh fetches Flink.
set -euo pipefail
cd "$(dirname "$0")/.."
events=2000000
queries="q0 q1 q2 q3 q5 q7 q8"
guarantees="at-least-once"
bootstrap=127.0.0.1:9092
while [ $# -gt 0 ]; do
  case "$1" in
    --events) events=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    --guarantees) guarantees=$2; shift 2 ;;
    -b|--bootstrap-servers) bootstrap=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
fjord=target/release/fjord
for g in $guarantees; do
  for q in $queries; do
    "$fjord" bench nexmark --query "$q" --events "$events" --guarantee "$g" \
      -b "$bootstrap" --json | tail -1
    # The topics hold exactly the events now: Flink reads the same ones.
    "$fjord" topic delete "nexmark-$q-flink" -b "$bootstrap" >/dev/null 2>&1 || true
    bench/flink/run.sh --query "$q" --guarantee "$g" --bootstrap-servers "$bootstrap" --json \
      | python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); d["engine"]="flink"; print(json.dumps(d))'
  done
done
