"""The auction's backup file as an Avro object container file
(`--backup-format avro`), read by a real Avro implementation this project did
not write (fastavro): every bid placed through the website's API is in it
exactly once with its partition and offset, under a schema whose bid_ts is a
timestamp-millis. Also when the backup writer exits between its flush and
its commit: after a restart nothing is missing or repeated, `backup verify`
agrees and `backup restore` rebuilds the table from the file."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from auction_api import ITEMS, post
from helpers import fjord_bin, free_port, wait_for_port

CRASH_AFTER_FLUSH_ENV = "FJORD_AUCTION_CRASH_AFTER_FLUSH"


def place_bids(base: str, n: int, first_price: int) -> dict[str, dict]:
    """n bids, round-robin over the items, prices rising; returns them by id."""
    placed = {}
    for i in range(n):
        body = {"item": ITEMS[i % 4], "name": f"avro-{i % 3}", "price": first_price + i}
        status, resp = post(base, body)
        assert status == 201, resp
        placed[resp["bid"]["id"]] = body
    return placed


def read_avro(path: Path):
    """(reader, records) read with fastavro, or None while the file is being
    created or a block is half-written (the writer is running)."""
    import fastavro

    try:
        with open(path, "rb") as f:
            reader = fastavro.reader(f)
            return reader, list(reader)
    except (FileNotFoundError, EOFError, ValueError, StopIteration):
        return None


def wait_for_records(path: Path, n: int, timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = read_avro(path)
        if got is not None and len(got[1]) >= n:
            return got[1]
        time.sleep(0.3)
    raise AssertionError(f"{path}: {0 if got is None else len(got[1])} records, want {n}")


def check_records(reader, records: list[dict], placed: dict[str, dict]) -> None:
    """Every placed bid exactly once, with a partition and offset of its own,
    under the backup schema; bid_ts read through its logical type."""
    assert reader.metadata["avro.codec"] == "null"
    schema = json.loads(reader.metadata["avro.schema"])
    fields = {f["name"]: f["type"] for f in schema["fields"]}
    assert list(fields) == ["partition", "offset", "id", "item", "name", "price", "bid_ts"]
    assert (fields["partition"], fields["offset"], fields["price"]) == ("int", "long", "long")
    assert fields["bid_ts"] == {"type": "long", "logicalType": "timestamp-millis"}

    ids = Counter(r["id"] for r in records)
    assert [i for i, c in ids.items() if c > 1] == [], "bids written twice"
    assert set(ids) == set(placed), "the file and the placed bids differ"
    positions = Counter((r["partition"], r["offset"]) for r in records)
    assert max(positions.values()) == 1, "an offset written twice"
    partition_of = {}
    now = datetime.datetime.now(datetime.timezone.utc)
    for r in records:
        want = placed[r["id"]]
        assert (r["item"], r["name"], r["price"]) == (want["item"], want["name"], want["price"])
        assert 0 <= r["partition"] < 4 and r["offset"] >= 0
        assert partition_of.setdefault(r["item"], r["partition"]) == r["partition"]
        # fastavro turns a timestamp-millis into an aware datetime.
        ts = r["bid_ts"]
        assert isinstance(ts, datetime.datetime) and ts.tzinfo is not None, ts
        assert datetime.timedelta(0) <= now - ts < datetime.timedelta(minutes=10), ts
    # Per partition, the file keeps the topic's order.
    for p in range(4):
        offsets = [r["offset"] for r in records if r["partition"] == p]
        assert offsets == sorted(offsets)


def fjord(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(fjord_bin()), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FJORD_") or k == "FJORD_BIN"}
    env.update(extra)
    return env


def test_auction_up_writes_an_avro_backup_that_fastavro_reads(tmp_path):
    broker_port, registry_port, http_port = free_port(), free_port(), free_port()
    data = tmp_path / "auction"
    log = open(tmp_path / "up.log", "wb")
    up = subprocess.Popen(
        [str(fjord_bin()), "auction", "up", "--data-dir", str(data), "--backup-format", "avro",
         "--broker-listen", f"127.0.0.1:{broker_port}",
         "--registry-listen", f"127.0.0.1:{registry_port}",
         "--http-listen", f"127.0.0.1:{http_port}"],
        env=clean_env(RUST_LOG="info"), cwd=tmp_path, stdout=log, stderr=log)
    try:
        wait_for_port(http_port, 120, up)
        placed = place_bids(f"http://127.0.0.1:{http_port}", 60, 2000)
        path = data / "bids-backup.avro"
        wait_for_records(path, 60)
        assert not (data / "bids-backup.jsonl").exists()
        reader, records = read_avro(path)
        check_records(reader, records, placed)

        # verify finds the file's format by itself; the topic holds Avro
        # values from the embedded registry.
        env = clean_env()
        cluster = ["--bootstrap-servers", f"127.0.0.1:{broker_port}",
                   "--schema-registry", f"http://127.0.0.1:{registry_port}"]
        deadline = time.monotonic() + 60
        while True:
            out = fjord("auction", "backup", "verify", "--data-dir", str(data), *cluster, env=env)
            if out.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)  # the DB writers may still be catching up
        assert out.returncode == 0, out.stdout + out.stderr
        assert "60 records in Avro blocks" in out.stdout and "60 rows" in out.stdout, out.stdout

        # Ctrl-C: the components leave before the embedded broker and
        # registry stop, so the run ends cleanly with no client's connection
        # errors; and a log that is not a terminal carries no colour codes.
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
        text = (tmp_path / "up.log").read_bytes().decode(errors="replace")
        assert "\x1b[" not in text, "ANSI escape codes in a log written to a file"
        for noise in ("Connection refused", "brokers are down", "database is locked"):
            assert noise not in text, f"{noise!r} in the log:\n{text[-3000:]}"
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        log.close()


def group_done(bootstrap: str, groups: tuple[str, ...]) -> bool:
    """True when every group's committed offsets reached the end of `bids`."""
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "avro-backup-probe"})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition("bids", p), timeout=10)[1]
                for p in range(4)}
    finally:
        c.close()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for group in groups:
        req = ConsumerGroupTopicPartitions(group, [TopicPartition("bids", p) for p in range(4)])
        got = admin.list_consumer_group_offsets([req])[group].result(timeout=30)
        committed = {tp.partition: tp.offset for tp in got.topic_partitions}
        if any(end > 0 and committed.get(p) != end for p, end in ends.items()):
            return False
    return True


@pytest.mark.slow
def test_avro_backup_survives_a_crash_between_flush_and_commit(broker, tmp_path):
    env = clean_env(FJORD_BOOTSTRAP_SERVERS=broker.bootstrap, RUST_LOG="info")
    port = free_port()
    data = ["--data-dir", str(tmp_path / "auction")]
    path = tmp_path / "auction" / "bids-backup.avro"
    procs = {}

    def start(name, *args, extra_env=None):
        log = open(tmp_path / f"{name}.log", "wb")
        procs[name] = subprocess.Popen(
            [str(fjord_bin()), "auction", *args, *data], env=dict(env, **(extra_env or {})),
            stdout=subprocess.DEVNULL, stderr=log)
        return procs[name]

    try:
        start("web", "web", "--http-listen", f"127.0.0.1:{port}")
        wait_for_port(port, 30, procs["web"])
        base = f"http://127.0.0.1:{port}"
        start("db-writers", "db-writer", "--instances", "2")
        start("backup", "backup-writer", "--backup-format", "avro")
        placed = place_bids(base, 20, 1000)
        wait_for_records(path, 20)

        # Exit between the flush of a batch and the commit of its offsets.
        killed = procs.pop("backup")
        killed.kill()
        killed.wait()
        crash = start("backup-crash", "backup-writer", "--backup-format", "avro",
                      extra_env={CRASH_AFTER_FLUSH_ENV: "1"})
        placed |= place_bids(base, 10, 3000)
        assert crash.wait(timeout=60) == 3, (tmp_path / "backup-crash.log").read_text()
        procs.pop("backup-crash")
        flushed = len(read_avro(path)[1])
        assert flushed > 20, "the crashing writer flushed nothing"

        # A writer of the other format is refused and leaves the file alone.
        out = fjord("auction", "backup-writer", "--backup-format", "jsonl", "--backup-file",
                    str(path), *data, env=env, timeout=60)
        assert out.returncode != 0
        assert "it is an Avro object container file, but --backup-format jsonl" in out.stderr, \
            out.stderr
        assert len(read_avro(path)[1]) == flushed

        # Restart: the redelivered batch is skipped, the rest appended.
        start("backup", "backup-writer", "--backup-format", "avro")
        placed |= place_bids(base, 10, 5000)
        deadline = time.monotonic() + 90
        while not group_done(broker.bootstrap, ("bid-backup", "bid-db-writers")):
            assert time.monotonic() < deadline, "the groups did not reach the end of `bids`"
            time.sleep(0.5)
        reader, records = read_avro(path)
        check_records(reader, records, placed)
        assert len(records) == 40

        out = fjord("auction", "backup", "verify", *data, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "40 records in Avro blocks" in out.stdout, out.stdout
        assert "40 records" in out.stdout.split(";")[1] and "40 rows" in out.stdout, out.stdout
        out = fjord("auction", "backup", "verify", "--backup-format", "jsonl", "--backup-file",
                    str(path), *data, env=env)
        assert out.returncode != 0 and "--backup-format jsonl" in out.stderr, out.stderr

        # Restore into an empty table, then check it against the file.
        restored = ["--database-url", f"sqlite://{tmp_path / 'restored.db'}"]
        out = fjord("auction", "backup", "restore", *data, *restored, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "40 accepted, 0 outbid, 0 already in the table" in out.stdout, out.stdout
        out = fjord("auction", "backup", "verify", "--no-topic", *data, *restored, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "40 rows" in out.stdout, out.stdout
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


BACKUP_SCHEMA = {
    "type": "record", "name": "BackupBid", "namespace": "io.fjord.auction",
    "fields": [
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
        {"name": "id", "type": "string"},
        {"name": "item", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "price", "type": "long"},
        {"name": "bid_ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def test_a_file_written_by_fastavro_is_verified_and_restored(tmp_path):
    """The other direction: an object container file written by fastavro
    (its own sync marker, several blocks) is read by verify and restore; a
    codec fjord does not read is refused by name; a torn last block is
    reported."""
    import uuid

    import fastavro

    records = [{"partition": n % 4, "offset": n // 4, "id": str(uuid.uuid4()),
                "item": ITEMS[n % 4], "name": "fa", "price": 100 + n,
                "bid_ts": datetime.datetime.now(datetime.timezone.utc)} for n in range(50)]
    path = tmp_path / "fastavro.avro"
    with open(path, "wb") as f:
        # A small sync interval: many blocks.
        fastavro.writer(f, fastavro.parse_schema(BACKUP_SCHEMA), records, codec="null",
                        sync_interval=300)
    data = ["--data-dir", str(tmp_path / "auction"), "--backup-file", str(path)]
    env = clean_env()
    out = fjord("auction", "backup", "verify", "--no-topic", "--no-table", *data, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "50 records in Avro blocks" in out.stdout, out.stdout
    out = fjord("auction", "backup", "restore", *data, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "50 accepted, 0 outbid, 0 already in the table" in out.stdout, out.stdout

    # Cut inside the last block: the complete blocks are read, the rest is
    # reported as a torn write.
    whole = path.read_bytes()
    path.write_bytes(whole[:-5])
    out = fjord("auction", "backup", "verify", "--no-topic", "--no-table", *data, env=env)
    assert out.returncode == 1 and "torn write" in out.stdout, out.stdout + out.stderr

    with open(path, "wb") as f:
        fastavro.writer(f, fastavro.parse_schema(BACKUP_SCHEMA), records, codec="deflate")
    out = fjord("auction", "backup", "verify", "--no-topic", "--no-table", *data, env=env)
    assert out.returncode != 0 and "codec is `deflate`" in out.stderr, out.stdout + out.stderr
