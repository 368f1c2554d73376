#!/usr/bin/env bash
# Fetches the Flink 2.0 jars the Nexmark jobs need into .cache/flink/lib (idempotent):
#   - flink-dist 2.0.0 (runtime, DataStream API, local execution) and log4j2, from the PyPI sdist
#     apache-flink-libraries==2.0.0 (~310 MB, only 5 jars are kept);
#   - flink-connector-kafka 4.0.1-2.0, kafka-clients 3.9.1 and zstd-jni, from the PyPI wheel
#     shigawire-apache-flink-libraries==2.0.0.post1 (reused from .cache/wheels when present).
# Needs python3 with pip, tar and unzip (python3 -m zipfile is used when unzip is missing).
# Prints the classpath on stdout (one line); what it did and the jars it found go to stderr.
# FLINK_CACHE overrides .cache/flink, FLINK_WHEELS the folder searched for the cached wheel.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${FLINK_CACHE:-$ROOT/.cache/flink}"
LIB="$CACHE/lib"
DL="$CACHE/dl"
FLINK_SDIST_VERSION=2.0.0
CONNECTOR_WHEEL_VERSION=2.0.0.post1

if [ -x "$ROOT/.venv/bin/pip" ]; then PIP=("$ROOT/.venv/bin/pip"); else PIP=(python3 -m pip); fi

DIST_JARS=(flink-dist-2.0.0.jar log4j-api-2.24.1.jar log4j-core-2.24.1.jar log4j-slf4j-impl-2.24.1.jar log4j-1.2-api-2.24.1.jar)
WHEEL_JARS=(flink-connector-kafka.jar kafka-clients.jar zstd-jni.jar)

mkdir -p "$LIB" "$DL"

missing() { for j in "$@"; do [ -s "$LIB/$j" ] || return 0; done; return 1; }

unzip_jars() { # wheel, then jar names under pyflink/lib/
    local whl="$1"; shift
    if command -v unzip >/dev/null; then
        local pats=(); for j in "$@"; do pats+=("pyflink/lib/$j"); done
        unzip -o -j -q "$whl" "${pats[@]}" -d "$LIB"
    else
        python3 - "$whl" "$LIB" "$@" <<'PY'
import sys, zipfile, os, shutil
whl, lib, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(whl) as z:
    for n in names:
        with z.open("pyflink/lib/" + n) as src, open(os.path.join(lib, n), "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
    fi
}

if missing "${DIST_JARS[@]}"; then
    SDIST="$DL/apache-flink-libraries-$FLINK_SDIST_VERSION.tar.gz"
    if [ ! -s "$SDIST" ]; then
        echo "setup: downloading apache-flink-libraries==$FLINK_SDIST_VERSION (~310 MB) from PyPI" >&2
        # (pip prepares the sdist's metadata, which needs setuptools from PyPI too)
        "${PIP[@]}" download --quiet --no-deps --no-binary :all: \
            "apache-flink-libraries==$FLINK_SDIST_VERSION" -d "$DL" >&2
    fi
    echo "setup: extracting ${DIST_JARS[*]}" >&2
    members=(); for j in "${DIST_JARS[@]}"; do members+=("apache-flink-libraries-$FLINK_SDIST_VERSION/deps/lib/$j"); done
    tar xzf "$SDIST" -C "$LIB" --strip-components=3 "${members[@]}"
fi

if missing "${WHEEL_JARS[@]}"; then
    WHEEL="${FLINK_WHEELS:-$ROOT/.cache/wheels}/shigawire_apache_flink_libraries-$CONNECTOR_WHEEL_VERSION-py3-none-any.whl"
    if [ ! -s "$WHEEL" ]; then
        WHEEL="$DL/shigawire_apache_flink_libraries-$CONNECTOR_WHEEL_VERSION-py3-none-any.whl"
        if [ ! -s "$WHEEL" ]; then
            echo "setup: downloading shigawire-apache-flink-libraries==$CONNECTOR_WHEEL_VERSION from PyPI" >&2
            "${PIP[@]}" download --quiet --no-deps --only-binary :all: \
                "shigawire-apache-flink-libraries==$CONNECTOR_WHEEL_VERSION" -d "$DL" >&2
        fi
    fi
    echo "setup: extracting ${WHEEL_JARS[*]} from $(basename "$WHEEL")" >&2
    unzip_jars "$WHEEL" "${WHEEL_JARS[@]}"
fi

CP=""
for j in "${DIST_JARS[@]}" "${WHEEL_JARS[@]}"; do
    [ -s "$LIB/$j" ] || { echo "setup: $LIB/$j is missing" >&2; exit 1; }
    echo "setup: $LIB/$j ($(du -h "$LIB/$j" | cut -f1))" >&2
    CP="${CP:+$CP:}$LIB/$j"
done
echo "$CP"
