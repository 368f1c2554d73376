#!/usr/bin/env bash
# Fjord's single test command: installs what the tests need, builds, runs the
# Rust tests, then the conformance suite with real Kafka clients.
#
#   ./scripts/test.sh                 everything
#   ./scripts/test.sh -k kcat         extra arguments go to pytest
#
# Works on a fresh Debian machine (root, Python 3, Java 17, Rust with
# cargo-nextest) and is quick when everything is already installed: each
# install step is skipped when a stamp says its inputs have not changed.
#
# Environment:
#   FJORD_SKIP_CARGO=1   skip the cargo build/nextest sections (iterate on the
#                        Python suite against an already built binary)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CACHE="$ROOT/.cache"
VENV="$ROOT/.venv"
JARS="$CACHE/jars"
# Older kafka-python releases, each in its own venv, to cover the 1.4 to 3.x
# range the broker has to serve. Kept under .cache/ (gitignored).
OLD_KAFKA_PYTHON=("1.4.7" "2.3.3")
# The Java client: the kafka-clients jar and its runtime dependencies ship
# inside this PyPI wheel under pyflink/lib/ (DESIGN.md, Tests).
JAVA_WHEEL="shigawire-apache-flink-libraries==2.0.0.post1"
JAVA_JARS=(kafka-clients lz4-java snappy-java zstd-jni slf4j-api)
KAFKA_CLIENTS_VERSION="3.9.1"

START=$SECONDS
FAILED=()

section() {
    printf '\n==== %s  [%ds]\n' "$*" "$((SECONDS - START))"
}

die() {
    echo "test.sh: $*" >&2
    exit 1
}

is_root() { [ "$(id -u)" = 0 ]; }

APT_UPDATED=0
apt_install() {
    is_root || die "need root to apt-get install $*; install it by hand"
    if [ "$APT_UPDATED" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

sha() { cat "$@" | sha256sum | cut -d' ' -f1; }

mkdir -p "$CACHE"
rm -f "$CACHE/nextest.log" "$CACHE/pytest.log"

# ---------------------------------------------------------------------------
section "system packages"
need_apt=()
command -v kcat >/dev/null || need_apt+=(kcat)
# Build dependencies: librdkafka (rdkafka-sys) links the system OpenSSL.
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || need_apt+=(libssl-dev)
command -v javac >/dev/null || need_apt+=(openjdk-17-jdk-headless)
# A Debian python3 without ensurepip cannot make venvs.
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    need_apt+=(python3-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing: ${need_apt[*]}"
    apt_install "${need_apt[@]}"
else
    echo "kcat, javac and python3 venv present"
fi
kcat -V 2>/dev/null | grep -m1 Version || true
javac -version 2>&1
python3 --version

# ---------------------------------------------------------------------------
section "python venv (.venv, tests/requirements.txt)"
stamp="$VENV/.fjord-requirements.sha256"
want="$(sha tests/requirements.txt)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "up to date"
else
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt
    echo "$want" >"$stamp"
fi
"$VENV/bin/python" -c 'import importlib.metadata as m, confluent_kafka; print(" | ".join(f"{p} {m.version(p)}" for p in ("kafka-python", "confluent-kafka", "pytest")), "| librdkafka", confluent_kafka.libversion()[0])'

# ---------------------------------------------------------------------------
section "old kafka-python venvs (${OLD_KAFKA_PYTHON[*]})"
KP_VENVS=()
for v in "${OLD_KAFKA_PYTHON[@]}"; do
    dir="$CACHE/venv-kp$v"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.fjord-stamp" 2>/dev/null)" = "$v" ]; then
        echo "kafka-python $v: up to date"
    else
        rm -rf "$dir"
        python3 -m venv "$dir"
        "$dir/bin/python" -m pip install -q --disable-pip-version-check "kafka-python==$v"
        echo "$v" >"$dir/.fjord-stamp"
        echo "kafka-python $v: installed"
    fi
    KP_VENVS+=("$dir/bin/python")
done

# ---------------------------------------------------------------------------
section "java kafka-clients $KAFKA_CLIENTS_VERSION jars"
have_jars=1
for j in "${JAVA_JARS[@]}"; do [ -f "$JARS/$j.jar" ] || have_jars=0; done
if [ "$have_jars" = 1 ] && [ "$(cat "$JARS/.fjord-stamp" 2>/dev/null)" = "$JAVA_WHEEL" ]; then
    echo "up to date"
else
    mkdir -p "$CACHE/wheels" "$JARS"
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
        -d "$CACHE/wheels" "$JAVA_WHEEL"
    # Extract only the jars we need (the wheel is ~90 MB of Flink).
    "$VENV/bin/python" - "$CACHE/wheels" "$JARS" "${JAVA_JARS[@]}" <<'PY'
import glob, os, sys, zipfile
wheels, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
whl = sorted(glob.glob(os.path.join(wheels, "shigawire_apache_flink_libraries-*.whl")))[-1]
with zipfile.ZipFile(whl) as z:
    for n in names:
        data = z.read(f"pyflink/lib/{n}.jar")
        with open(os.path.join(out, f"{n}.jar"), "wb") as f:
            f.write(data)
        print(f"extracted {n}.jar ({len(data)} bytes) from {os.path.basename(whl)}")
PY
    echo "$JAVA_WHEEL" >"$JARS/.fjord-stamp"
fi
got="$("$VENV/bin/python" -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("kafka/kafka-version.properties").decode())' "$JARS/kafka-clients.jar" | sed -n 's/^version=//p')"
[ "$got" = "$KAFKA_CLIENTS_VERSION" ] || die "kafka-clients.jar is version '$got', want $KAFKA_CLIENTS_VERSION"
echo "kafka-clients.jar version $got"

# ---------------------------------------------------------------------------
section "auction: PostgreSQL, MariaDB and chromium (Debian packages)"
# The auction tests start private database servers in temp dirs and drive
# headless chromium; without root they skip what is missing.
need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v mariadbd >/dev/null || command -v mysqld >/dev/null || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
    if is_root; then
        echo "installing: ${need_apt[*]}"
        apt_install "${need_apt[@]}"
    else
        echo "not root: cannot install ${need_apt[*]}; those tests skip"
    fi
else
    echo "postgresql, mariadb-server and chromium present"
fi

# ---------------------------------------------------------------------------
section "auction: playwright-core (tests/browser/node_modules)"
stamp="$ROOT/tests/browser/node_modules/.fjord-package.sha256"
want="$(sha tests/browser/package.json)"
if [ -d tests/browser/node_modules/playwright-core ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "up to date"
else
    (cd tests/browser && npm install --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
fi

# ---------------------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "${FJORD_SKIP_CARGO:-0}" = 1 ]; then
    section "cargo: skipped (FJORD_SKIP_CARGO=1)"
else
    section "cargo build --workspace --all-targets"
    # A clean clone builds once: incremental caches would only take disk.
    if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
    cargo build --workspace --all-targets

    section "cargo nextest run --workspace"
    # A crate with no tests yet is not a failure; run every test even when
    # one fails, so one run shows the whole picture.
    if ! cargo nextest run --workspace --no-tests=warn --no-fail-fast 2>&1 | tee "$CACHE/nextest.log"; then
        FAILED+=("cargo nextest")
    fi

    section "cargo test --workspace --doc"
    # nextest does not run doc tests: the rustdoc examples must compile
    # and run too.
    if ! cargo test --workspace --doc 2>&1 | tee "$CACHE/doctest.log"; then
        FAILED+=("cargo test --doc")
    fi
fi

# ---------------------------------------------------------------------------
section "conformance suite (pytest tests/conformance)"
export FJORD_BIN="$TARGET_DIR/debug/fjord"
export FJORD_JARS="$JARS"
export FJORD_KP_PYTHONS="$(IFS=:; echo "${KP_VENVS[*]}")"
# Missing tools fail the run here instead of skipping tests.
export FJORD_TEST_STRICT=1
[ -x "$FJORD_BIN" ] || die "no broker binary at $FJORD_BIN"
if ! "$VENV/bin/python" -m pytest -c tests/conformance/pytest.ini tests/conformance "$@" 2>&1 | tee "$CACHE/pytest.log"; then
    FAILED+=("pytest tests/conformance")
fi

# ---------------------------------------------------------------------------
section "browser tests (node --test tests/browser: chromium + playwright-core)"
rm -f "$CACHE/browser.log"
if ! (FJORD_BIN="$FJORD_BIN" node --test tests/browser/ 2>&1 | tee "$CACHE/browser.log"); then
    FAILED+=("browser tests")
fi

# ---------------------------------------------------------------------------
section "done"
[ ${#FAILED[@]} -eq 0 ] || echo "FAILED: ${FAILED[*]}"
# One closing line over both runners: nextest's "Summary ... N passed, N
# failed, N skipped" and pytest's "== N passed, N failed, N skipped in ...".
"$VENV/bin/python" - "$CACHE/nextest.log" "$CACHE/pytest.log" "$CACHE/browser.log" <<'PY' || true
import re, sys
total = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    try:
        text = open(path, errors="replace").read()
    except FileNotFoundError:
        continue
    node = {w: re.findall(r"^# " + w + r" (\d+)$", text, re.M) for w in ("pass", "fail", "skipped")}
    if node["pass"]:
        total["passed"] += int(node["pass"][-1])
        total["failed"] += int(node["fail"][-1]) if node["fail"] else 0
        total["skipped"] += int(node["skipped"][-1]) if node["skipped"] else 0
        continue
    lines = [l for l in text.splitlines() if re.search(r"Summary \[|^=+ .* in [0-9.]+s", l)]
    if not lines:
        continue
    last = lines[-1]
    for word in total:
        m = re.search(r"(\d+) " + word, last)
        if m:
            total[word] += int(m.group(1))
    m = re.search(r"(\d+) errors?\b", last)
    if m and "Summary" not in last:
        total["failed"] += int(m.group(1))
print(f"\nsummary: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
PY
[ ${#FAILED[@]} -eq 0 ] || exit 1
