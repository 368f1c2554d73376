"""Fixtures for the conformance suite: a real `fjord serve` per test on an
ephemeral port and a fresh data dir, with its stderr shown when a test fails.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from helpers import REPO, Broker, fjord_bin

STRICT = os.environ.get("FJORD_TEST_STRICT") == "1"


def need(ok: bool, why: str) -> None:
    """A missing tool fails the run under scripts/test.sh (FJORD_TEST_STRICT=1)
    and skips the test in an ad-hoc pytest run."""
    if ok:
        return
    if STRICT:
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def fjord() -> Path:
    path = fjord_bin()
    need(path.is_file() and os.access(path, os.X_OK), f"no fjord binary at {path} (cargo build -p fjord)")
    return path


_BROKERS = pytest.StashKey[list]()


@pytest.fixture
def broker_factory(fjord, tmp_path, request):
    """make(advertised=None, name="broker") -> started Broker; all are stopped
    at teardown."""
    made: list[Broker] = []
    request.node.stash[_BROKERS] = made

    def make(advertised: str | None = None, name: str = "broker", start: bool = True) -> Broker:
        b = Broker(tmp_path / f"{name}-data", tmp_path / f"{name}.log", advertised=advertised)
        made.append(b)
        if start:
            b.start()
        return b

    yield make
    # Drop the test's client objects while their broker is still up, so
    # librdkafka does not log connection failures from a later collection.
    gc.collect()
    for b in made:
        if b.alive():
            try:
                b.stop(clean=True)
            except Exception:
                b.kill9()


@pytest.fixture
def broker(broker_factory) -> Broker:
    return broker_factory()


@pytest.fixture
def topic() -> str:
    return f"conf-{uuid.uuid4().hex[:10]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for b in item.stash.get(_BROKERS, []):
            state = "running" if b.alive() else f"exited ({b.proc.returncode if b.proc else 'never started'})"
            rep.sections.append((f"fjord stderr {b.log_path.name} [{state}]", b.log_text()))


# ---------------------------------------------------------------------------
# Java


def compile_java(tmp_path_factory, classes: str, driver: str) -> str:
    """Compiles tests/java/<driver> (with Report.java, which the drivers
    share) against the kafka-clients jars into a fresh directory named after
    `classes`; returns the classpath to run it with. The session fixtures of
    the Java tests (java_classpath here, test_groups, test_transactions_java)
    all compile their driver this way, so they share this."""
    jars_dir = Path(os.environ.get("FJORD_JARS", REPO / ".cache" / "jars"))
    jars = sorted(jars_dir.glob("*.jar"))
    need(any(j.name.startswith("kafka-clients") for j in jars),
         f"no kafka-clients jar in {jars_dir} (scripts/test.sh fetches it)")
    need(shutil.which("javac") is not None and shutil.which("java") is not None, "javac/java not on PATH")
    out = tmp_path_factory.mktemp(classes)
    cp = os.pathsep.join(str(j) for j in jars)
    srcs = [str(REPO / "tests" / "java" / name) for name in (driver, "Report.java")]
    res = subprocess.run(["javac", "-d", str(out), "-cp", cp, *srcs],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, f"javac failed:\n{res.stdout}\n{res.stderr}"
    return os.pathsep.join([str(out), cp])


@pytest.fixture(scope="session")
def java_classpath(tmp_path_factory) -> str:
    """Compiles tests/java/Conformance.java against the kafka-clients jars
    once per session; returns the classpath to run it with."""
    return compile_java(tmp_path_factory, "java-classes", "Conformance.java")
