"""Transactions with the Java kafka-clients 3.9.1 jar (tests/java/Transactions.java):
a transactional producer sends to 3 partitions and commits consumer offsets
with sendOffsetsToTransaction; one transaction commits, one aborts, one
commits; a read_committed consumer sees only committed records, in order, a
read_uncommitted one sees the aborted ones too; the group's offsets change
only when a transaction commits; the last stable offset holds back even
non-transactional records behind an open transaction; a zombie producer
fenced by a new instance with its transactional.id cannot commit.

The Java driver reports what it saw; every assertion is here.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import compile_java

PARTITIONS = 3
PER_PARTITION = 4


@pytest.fixture(scope="session")
def java_txn_classpath(tmp_path_factory) -> str:
    return compile_java(tmp_path_factory, "java-txn-classes", "Transactions.java")


def run_java(classpath: str, *args: str, timeout: float = 240) -> dict:
    res = subprocess.run(["java", "-cp", classpath, "Transactions", *args],
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"java exited {res.returncode}:\n{res.stderr[-6000:]}"
    try:
        out = json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError(f"no JSON report:\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}")
    assert "error" not in out, f"stopped at stage {out['stage']!r}: {out['error']}\njava stderr (tail):\n{res.stderr[-4000:]}"
    return out


def values(name: str, p: int) -> list[str]:
    return [f"{name}-{p}-{i}" for i in range(PER_PARTITION)]


def by_partition(records: list) -> dict[int, list]:
    """[[p, offset, value]] -> {p: [(offset, value)]} in read order."""
    out: dict[int, list] = {p: [] for p in range(PARTITIONS)}
    for p, o, v in records:
        out[p].append((o, v))
    return out


def check_offsets_increase(parts: dict[int, list], who: str) -> None:
    for p, recs in parts.items():
        offsets = [o for o, _ in recs]
        assert offsets == sorted(set(offsets)), f"{who}: partition {p} offsets not strictly increasing: {offsets}"


def test_commit_abort_read_committed_and_uncommitted(broker, topic, java_txn_classpath):
    out = run_java(java_txn_classpath, "scenario", broker.bootstrap, topic)
    assert out["input_read"] == 30, f"the group's consumer read {out['input_read']} of 30 input records"

    # While t1 is open: nothing of it is visible to read_committed, not even
    # the plain record appended behind it (the LSO holds), and the group's
    # offsets are not committed yet.
    assert out["open_group_offsets"] == {}, f"offsets visible before the commit: {out['open_group_offsets']}"
    assert out["open_end_committed"] == {"0": 0, "1": 0, "2": 0}, (
        f"read_committed end offsets (LSO) with t1 open: {out['open_end_committed']}")
    assert out["open_end_uncommitted"] == {"0": 5, "1": 4, "2": 4}, (
        f"read_uncommitted end offsets (high watermark) with t1 open: {out['open_end_uncommitted']}")
    assert out["open_read_committed"] == [], f"read_committed saw an open transaction: {out['open_read_committed']}"
    open_ru = by_partition(out["open_read_uncommitted"])
    for p in range(PARTITIONS):
        want = values("t1", p) + (["plain-0"] if p == 0 else [])
        assert [v for _, v in open_ru[p]] == want, f"read_uncommitted, t1 open, partition {p}: {open_ru[p]}"

    # The group's offsets move with commits only.
    assert out["t1_group_offsets"] == {"0": 5, "1": 5, "2": 5}, f"after t1 commit: {out['t1_group_offsets']}"
    assert out["t2_group_offsets"] == {"0": 5, "1": 5, "2": 5}, f"after t2 abort: {out['t2_group_offsets']}"
    assert out["t3_group_offsets"] == {"0": 10, "1": 10, "2": 10}, f"after t3 commit: {out['t3_group_offsets']}"

    # Each transaction ends with one control record per partition, so the
    # end offsets count 4 records + 1 marker per transaction (+ plain-0).
    want_end = {"0": 16, "1": 15, "2": 15}
    assert out["end_uncommitted"] == want_end, f"high watermarks {out['end_uncommitted']}"
    assert out["end_committed"] == want_end, f"LSO with no open transaction {out['end_committed']}"

    ru = by_partition(out["read_uncommitted"])
    rc = by_partition(out["read_committed"])
    check_offsets_increase(ru, "read_uncommitted")
    check_offsets_increase(rc, "read_committed")
    for p in range(PARTITIONS):
        want_all = values("t1", p) + (["plain-0"] if p == 0 else []) + values("t2", p) + values("t3", p)
        assert [v for _, v in ru[p]] == want_all, f"read_uncommitted partition {p}: {ru[p]}"
        want_committed = [(o, v) for o, v in ru[p] if not v.startswith("t2-")]
        assert rc[p] == want_committed, (
            f"read_committed partition {p}: {rc[p]}\n  want the committed records of {ru[p]}")


def test_fenced_zombie_cannot_commit(broker, topic, java_txn_classpath):
    out = run_java(java_txn_classpath, "zombie", broker.bootstrap, topic)
    err = out["zombie_commit_error"]
    assert "ProducerFencedException" in err or "InvalidProducerEpochException" in err, (
        f"the zombie's commit after a new instance's initTransactions: {err}")
    rc = by_partition(out["read_committed"])
    ru = by_partition(out["read_uncommitted"])
    check_offsets_increase(ru, "read_uncommitted")
    for p in range(PARTITIONS):
        assert [v for _, v in rc[p]] == values("zB", p), f"read_committed partition {p}: {rc[p]}"
        # The zombie's records were written before it was fenced (then
        # aborted); its send after the fence must not be.
        assert [v for _, v in ru[p]] == values("zA", p) + values("zB", p), f"read_uncommitted partition {p}: {ru[p]}"
