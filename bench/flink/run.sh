#!/usr/bin/env bash
# Runs one Nexmark query on Flink 2.0 (local execution in one JVM, parallelism 2, a checkpoint
# every 100 ms in exactly-once mode) against the nexmark-* topics of a Kafka-compatible broker.
#
#   bench/flink/run.sh --query q5 [--bootstrap-servers 127.0.0.1:9092]
#                      [--guarantee at-least-once|exactly-once] [--json] [more job flags]
#
# Fetches the jars (setup.sh) and compiles the jobs (javac into .cache/flink/classes) when needed.
# Prints input events, output records, net runtime, events/s and the JVM's CPU seconds; with
# --json one JSON object on stdout, logs on stderr. JAVA_OPTS overrides the JVM flags.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${FLINK_CACHE:-$ROOT/.cache/flink}"
CLASSES="$CACHE/classes"

CP="$("$HERE/setup.sh" 2>/tmp/flink-setup.$$.log)" || { cat /tmp/flink-setup.$$.log >&2; rm -f /tmp/flink-setup.$$.log; exit 1; }
rm -f /tmp/flink-setup.$$.log

STAMP="$CLASSES/.stamp"
if [ ! -f "$STAMP" ] || [ -n "$(find "$HERE/src" -name '*.java' -newer "$STAMP" -print -quit)" ]; then
    echo "run: compiling $HERE/src into $CLASSES" >&2
    rm -rf "$CLASSES" && mkdir -p "$CLASSES"
    javac -J-Xmx512m -nowarn -encoding UTF-8 -d "$CLASSES" -cp "$CP" $(find "$HERE/src" -name '*.java')
    touch "$STAMP"
fi

# Flink 2.0 on Java 17 needs these module openings (the list of Flink's own env.java.opts.all).
OPENS=(--add-exports=java.base/sun.net.util=ALL-UNNAMED
       --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
       --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
       --add-opens=java.base/java.lang=ALL-UNNAMED
       --add-opens=java.base/java.net=ALL-UNNAMED
       --add-opens=java.base/java.io=ALL-UNNAMED
       --add-opens=java.base/java.nio=ALL-UNNAMED
       --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
       --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
       --add-opens=java.base/java.text=ALL-UNNAMED
       --add-opens=java.base/java.time=ALL-UNNAMED
       --add-opens=java.base/java.util=ALL-UNNAMED
       --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
       --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
       --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED)

# shellcheck disable=SC2086
exec java ${JAVA_OPTS:--Xms1g -Xmx3g} "${OPENS[@]}" \
    -Dlog4j.configurationFile="$HERE/log4j2.properties" \
    -cp "$CLASSES:$CP" fjord.nexmark.NexmarkFlink "$@"
