"""No bid record is lost silently: records of `bids` that are not bids
(garbage bytes, a JSON bid where the system writes Avro, a record without a
value), produced straight to the topic with confluent-kafka between real bids
placed through the website, end up in the dead-letter topic `bids-dlq` once
per consumer group, byte for byte with headers naming where they came from
and why, while every real bid reaches the table and the backup file exactly
once, both groups' lag returns to 0 and `backup verify` accounts for them.

With `--on-bad-record stop` a writer exits non-zero naming the record, and
its group's committed offset stays at the record (read again after a
restart), which `backup verify` reports as a record in neither the file nor
the dead-letter topic."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from auction_api import ITEMS, http_json
from helpers import consumer_conf, create_topic, fjord_bin, free_port, wait_for_port

DLQ = "bids-dlq"
GROUPS = ("bid-db-writers", "bid-backup")


def produce_raw(bootstrap: str, records: list[tuple[str, bytes | None, list | None]]) -> list[tuple[int, int]]:
    """Produces (key, value, headers) records to `bids` with confluent-kafka;
    returns each one's (partition, offset) from its delivery report."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    placed: list[tuple[int, int] | None] = [None] * len(records)

    def report(i):
        def cb(err, msg):
            assert err is None, err
            placed[i] = (msg.partition(), msg.offset())
        return cb

    for i, (key, value, headers) in enumerate(records):
        p.produce("bids", key=key.encode(), value=value, headers=headers, on_delivery=report(i))
    assert p.flush(30) == 0
    assert all(placed), placed
    return placed  # type: ignore[return-value]


def topic_ends(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(consumer_conf(bootstrap))
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        c.close()


def group_offsets(bootstrap: str, group: str) -> dict[int, int]:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    req = ConsumerGroupTopicPartitions(group, [TopicPartition("bids", p) for p in range(4)])
    result = admin.list_consumer_group_offsets([req])[group].result(timeout=30)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def wait_groups_at_end(bootstrap: str, ends: dict[int, int], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    for group in GROUPS:
        while True:
            got = group_offsets(bootstrap, group)
            if all(got.get(p, -1) == end for p, end in ends.items() if end > 0):
                break
            assert time.monotonic() < deadline, f"{group} stuck at {got}, end {ends}"
            time.sleep(0.5)


def read_dlq(bootstrap: str, expect: int, timeout: float = 60) -> list:
    """Every record of the dead-letter topic (one partition), with headers."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    c = Consumer(consumer_conf(bootstrap))
    out = []
    try:
        c.assign([TopicPartition(DLQ, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF and len(out) >= expect:
                    return out
                continue
            out.append(m)
        raise TimeoutError(f"{len(out)} dead letters after {timeout}s, expected {expect}")
    finally:
        c.close()


def fjord(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(fjord_bin()), "auction", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_up(tmp_path: Path, *extra: str) -> dict:
    """`fjord auction up` with its embedded broker and registry (so values
    are Avro) on ports of its own; returns where everything is."""
    http, kafka, registry = free_port(), free_port(), free_port()
    data = tmp_path / "auction"
    env = dict(os.environ, RUST_LOG="info")
    for k in ("FJORD_BOOTSTRAP_SERVERS", "FJORD_SCHEMA_REGISTRY"):
        env.pop(k, None)
    with open(tmp_path / "up.log", "wb") as log:
        proc = subprocess.Popen(
            [str(fjord_bin()), "auction", "up", "--data-dir", str(data),
             "--http-listen", f"127.0.0.1:{http}", "--broker-listen", f"127.0.0.1:{kafka}",
             "--registry-listen", f"127.0.0.1:{registry}", *extra],
            env=env, stdout=log, stderr=log, cwd=tmp_path)
    try:
        wait_for_port(http, 90, proc)
    except Exception:
        stop(proc)
        raise
    return {"base": f"http://127.0.0.1:{http}", "bootstrap": f"127.0.0.1:{kafka}",
            "registry": f"http://127.0.0.1:{registry}", "data": data, "env": env,
            "log": tmp_path / "up.log", "proc": proc}


@pytest.fixture
def auction_up(tmp_path):
    a = start_up(tmp_path)
    yield a
    stop(a["proc"])


def test_records_that_are_not_bids_are_dead_lettered_once_per_group(auction_up):
    a = auction_up
    bootstrap = a["bootstrap"]
    ids: set[str] = set()
    price = {item: 1000 for item in ITEMS}

    def bids(n: int) -> None:
        for i in range(n):
            item = ITEMS[(len(ids) + i) % 4]
            price[item] += 7
            status, body = http_json(a["base"] + "/api/bids",
                                     {"item": item, "name": f"dlq-{i}", "price": price[item]})
            assert status == 201, body
            ids.add(body["bid"]["id"])

    garbage = b"\xde\xad\xbe\xef not a bid \x00\xff"
    as_json = json.dumps({"id": str(uuid.uuid4()), "item": ITEMS[1], "name": "json-not-avro",
                          "price": 999999, "bid_ts": int(time.time() * 1000)}).encode()
    own_headers = [("origin", b"conformance"), ("trace", b"\x01\x02")]
    bad = []  # (key, value, headers, (partition, offset))
    for key, value, headers in [(ITEMS[0], garbage, own_headers), (ITEMS[1], as_json, None),
                                (ITEMS[2], None, None)]:
        bids(6)
        placed = produce_raw(bootstrap, [(key, value, headers)])[0]
        bad.append((key, value, headers or [], placed))
    bids(6)
    assert len(ids) == 24

    ends = topic_ends(bootstrap, "bids", 4)
    assert sum(ends.values()) == 24 + 3
    wait_groups_at_end(bootstrap, ends)

    # Each bad record once per group, with its bytes and the headers.
    letters = read_dlq(bootstrap, expect=2 * len(bad))
    assert len(letters) == 2 * len(bad), [m.headers() for m in letters]
    seen = set()
    for m in letters:
        h = m.headers() or []
        keys = [k for k, _ in h]
        extra = dict(h[-5:])
        assert keys[-5:] == ["fjord.dlq.topic", "fjord.dlq.partition", "fjord.dlq.offset",
                             "fjord.dlq.group", "fjord.dlq.error"], keys
        source = (int(extra["fjord.dlq.partition"]), int(extra["fjord.dlq.offset"]))
        group = extra["fjord.dlq.group"].decode()
        assert extra["fjord.dlq.topic"] == b"bids"
        assert group in GROUPS
        match = [b for b in bad if b[3] == source]
        assert len(match) == 1, (source, bad)
        key, value, headers, _ = match[0]
        assert m.key() == key.encode()
        assert m.value() == value
        assert h[:-5] == headers  # the record's own headers, unchanged and first
        error = extra["fjord.dlq.error"].decode()
        if value is None:
            assert "no value" in error, error
        else:
            assert "not an Avro bid" in error, error
        assert (source, group) not in seen, f"{source} dead-lettered twice by {group}"
        seen.add((source, group))
    assert len(seen) == 2 * len(bad)

    # Every real bid once in the table and once in the backup file.
    with sqlite3.connect(a["data"] / "auction.db") as db:
        rows = [r[0] for r in db.execute("SELECT bid_id FROM bid")]
    assert sorted(rows) == sorted(ids)
    lines = [json.loads(x) for x in (a["data"] / "bids-backup.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(ids)

    # The dashboard: both lags back to 0 and the dead-letter tile's count.
    deadline = time.monotonic() + 30
    while True:
        status, d = http_json(a["base"] + "/api/dashboard")
        assert status == 200
        lag_zero = len(d["lag"]) == 2 and all(g["total"] == 0 for g in d["lag"])
        if lag_zero and d["dead_letters"] == 2 * len(bad) and d["total_bids"] == 24:
            assert d["dead_letter_topic"] == DLQ
            break
        assert time.monotonic() < deadline, f"dashboard: lag {d['lag']}, dead letters {d['dead_letters']}"
        time.sleep(0.5)

    out = fjord(a["env"], "backup", "verify", "--data-dir", str(a["data"]),
                "--bootstrap-servers", bootstrap, "--schema-registry", a["registry"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "24 lines" in out.stdout and "27 records" in out.stdout and "24 rows" in out.stdout, out.stdout
    assert f"3 record(s) not bids, in {DLQ}" in out.stdout, out.stdout


def bid_json(item: str, name: str, price: int) -> bytes:
    return json.dumps({"id": str(uuid.uuid4()), "item": item, "name": name, "price": price,
                       "bid_ts": int(time.time() * 1000)}).encode()


def test_stop_exits_naming_the_record_and_commits_nothing_past_it(broker, tmp_path):
    # No registry: the components read JSON bids, so garbage is the bad one.
    bootstrap = broker.bootstrap
    create_topic(bootstrap, "bids", 4)
    item = ITEMS[0]
    good = [bid_json(item, f"stop-{i}", 100 + i) for i in range(3)]
    placed = produce_raw(bootstrap, [(item, good[0], None), (item, good[1], None),
                                     (item, b"\x00garbage", None), (item, good[2], None)])
    partition, bad_offset = placed[2]
    assert {p for p, _ in placed} == {partition}

    data = tmp_path / "auction"
    env = dict(os.environ, FJORD_BOOTSTRAP_SERVERS=bootstrap, RUST_LOG="info")
    env.pop("FJORD_SCHEMA_REGISTRY", None)
    common = ["--data-dir", str(data), "--on-bad-record", "stop"]
    procs = {name: subprocess.Popen([str(fjord_bin()), "auction", name, *common], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for name in ("db-writer", "backup-writer")}
    for name, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name} --on-bad-record stop did not exit: {proc.communicate()[1]}")
        assert proc.returncode != 0, err
        for part in ("`bids`", f"partition {partition}", f"offset {bad_offset}", "not a JSON bid"):
            assert part in err, f"{name}: {part!r} not in {err}"

    # The DB writer stored and committed the bids before it, not past it.
    db_group = group_offsets(bootstrap, "bid-db-writers")
    assert db_group.get(partition) == bad_offset, db_group
    backup_group = group_offsets(bootstrap, "bid-backup")
    assert backup_group.get(partition, -1) <= bad_offset, backup_group
    with sqlite3.connect(data / "auction.db") as db:
        names = sorted(r[0] for r in db.execute("SELECT name FROM bid"))
    assert names == ["stop-0", "stop-1"]

    # The bad record is in neither the file nor the dead-letter topic: a problem.
    out = fjord(env, "backup", "verify", "--data-dir", str(data))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "in neither the file nor the dead-letter topic" in out.stdout, out.stdout

    # After a restart with the default (dead-letter) the record is read again
    # and set aside, and the bid after it is stored.
    for name in ("db-writer", "backup-writer"):
        procs[name] = subprocess.Popen([str(fjord_bin()), "auction", name, "--data-dir", str(data)],
                                       env=env, stdout=subprocess.DEVNULL,
                                       stderr=open(tmp_path / f"{name}.log", "wb"))
    try:
        wait_groups_at_end(bootstrap, topic_ends(bootstrap, "bids", 4))
        letters = read_dlq(bootstrap, expect=2)
        assert sorted(dict(m.headers())["fjord.dlq.group"] for m in letters) == [b"bid-backup", b"bid-db-writers"]
        assert {m.value() for m in letters} == {b"\x00garbage"}
        with sqlite3.connect(data / "auction.db") as db:
            names = sorted(r[0] for r in db.execute("SELECT name FROM bid"))
        assert names == ["stop-0", "stop-1", "stop-2"]
        out = fjord(env, "backup", "verify", "--data-dir", str(data))
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"1 record(s) not bids, in {DLQ}" in out.stdout, out.stdout
    finally:
        for p in procs.values():
            stop(p)


def test_up_with_stop_exits_naming_the_record(tmp_path):
    # The whole system in one process: a writer that stops ends it, with
    # the record named, rather than leave the website up without it.
    a = start_up(tmp_path, "--on-bad-record", "stop")
    try:
        status, body = http_json(a["base"] + "/api/bids", {"item": ITEMS[0], "name": "Ann", "price": 5000})
        assert status == 201, body
        partition, offset = produce_raw(a["bootstrap"], [(ITEMS[0], b"\xde\xad not avro", None)])[0]
        try:
            code = a["proc"].wait(90)
        except subprocess.TimeoutExpired:
            pytest.fail("auction up --on-bad-record stop is still running: " + a["log"].read_text())
        log = a["log"].read_text()
        assert code != 0, log
        assert f"`bids` partition {partition} offset {offset} is not a bid" in log, log
        assert "not an Avro bid" in log, log
    finally:
        stop(a["proc"])


def test_a_dead_letter_the_broker_refuses_is_not_committed_past(broker, tmp_path):
    # The dead-letter topic refuses every dead letter (max.message.bytes far
    # below one record): the writer must not commit past the bad record.
    bootstrap = broker.bootstrap
    create_topic(bootstrap, "bids", 4)
    create_topic(bootstrap, DLQ, 1, {"max.message.bytes": "16"})
    item = ITEMS[1]
    placed = produce_raw(bootstrap, [(item, bid_json(item, "before", 10), None),
                                     (item, b"garbage that cannot be dead-lettered", None),
                                     (item, bid_json(item, "after", 20), None)])
    partition, bad_offset = placed[1]
    data = tmp_path / "auction"
    env = dict(os.environ, FJORD_BOOTSTRAP_SERVERS=bootstrap, RUST_LOG="info")
    env.pop("FJORD_SCHEMA_REGISTRY", None)
    out = fjord(env, "db-writer", "--data-dir", str(data), timeout=150)
    assert out.returncode != 0, out.stderr
    assert f"cannot dead-letter `bids` partition {partition} offset {bad_offset} to `{DLQ}`" in out.stderr, out.stderr
    committed = group_offsets(bootstrap, "bid-db-writers")
    assert committed.get(partition, -1) <= bad_offset, committed
    with sqlite3.connect(data / "auction.db") as db:
        names = [r[0] for r in db.execute("SELECT name FROM bid")]
    assert "after" not in names, names
