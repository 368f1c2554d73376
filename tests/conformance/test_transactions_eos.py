"""Exactly-once consume-transform-produce under kill -9, with confluent-kafka
(librdkafka): transactions_worker.py reads an input topic in a group with
read_committed and writes f(x) for each record to an output topic, one
transaction per batch with send_offsets_to_transaction. The worker is
killed with SIGKILL in the middle of a transaction (after its batch is
produced and flushed, before the commit) and restarted; separately the
broker is killed the same way and restarted. At the end the output topic,
read with read_committed, holds each input record's result exactly once, in
input order per key.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import consumer_conf, create_topic

WORKER = Path(__file__).with_name("transactions_worker.py")
COUNT = 2000
PARTITIONS = 4
KEYS = 16


class Worker:
    """One transactions_worker.py process; its events arrive on a queue."""

    def __init__(self, bootstrap: str, topics: tuple[str, str], group: str, txn_id: str, log: Path,
                 pause_ms: int = 0):
        cmd = [sys.executable, str(WORKER), bootstrap, topics[0], topics[1], group, txn_id,
               "--batch", "100", "--pause-after-produce-ms", str(pause_ms)]
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        self.events: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"ev": "garbage", "line": line})
        self.events.put({"ev": "exited"})

    def wait_for(self, pred, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(ev)
            if pred(ev):
                return ev
            if ev["ev"] == "exited":
                break
        raise AssertionError(f"worker: no {what} within {timeout}s; events: {self.seen[-20:]}")

    def drain(self) -> None:
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self) -> int:
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=30)
        self.log.close()
        return code


def fill_input(bootstrap: str, topic: str) -> None:
    from confluent_kafka import Producer

    create_topic(bootstrap, topic, PARTITIONS)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failed = []
    for i in range(COUNT):
        p.produce(topic, key=f"k{i % KEYS}", value=f"v{i}",
                  on_delivery=lambda err, msg: err and failed.append(err))
        p.poll(0)
    assert p.flush(60) == 0 and not failed, f"input not written: {failed[:3]}"


def read_topic(bootstrap: str, topic: str, isolation: str, timeout: float = 60) -> list:
    """(partition, offset, key, value) of every record up to the end of each
    partition for this isolation level."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    c = Consumer(consumer_conf(bootstrap, **{"isolation.level": isolation}))
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        out, eof = [], set()
        deadline = time.monotonic() + timeout
        while len(eof) < PARTITIONS:
            assert time.monotonic() < deadline, f"{isolation} read of {topic}: EOF on {sorted(eof)} only"
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, f"read {topic}: {msg.error()}"
                eof.add(msg.partition())
                continue
            eof.discard(msg.partition())
            out.append((msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode()))
        return out
    finally:
        c.close()


def group_done(bootstrap: str, group: str, topic: str) -> bool:
    """Whether the group's committed offsets reached the end of every input partition."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(consumer_conf(bootstrap, **{"group.id": group}))
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        committed = c.committed(tps, timeout=10)
        for tp in committed:
            _, high = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            if tp.offset < high:
                return False
        return True
    finally:
        c.close()


def check_exactly_once(bootstrap: str, output: str) -> tuple[int, int]:
    """Each input's result exactly once, in input order per key; returns
    (records read with read_committed, with read_uncommitted)."""
    committed = read_topic(bootstrap, output, "read_committed")
    seen: dict[int, int] = {}
    per_key: dict[str, list[int]] = {}
    for p, o, key, value in sorted(committed):
        i, square = (int(x) for x in value[1:].split(":"))
        assert square == i * i and key == f"k{i % KEYS}", f"bad result {key}={value} at {p}/{o}"
        seen[i] = seen.get(i, 0) + 1
        per_key.setdefault(key, []).append(i)
    dups = sorted(i for i, n in seen.items() if n > 1)
    missing = sorted(set(range(COUNT)) - set(seen))
    assert not dups and not missing, (
        f"{len(committed)} results for {COUNT} inputs: {len(dups)} duplicated (e.g. {dups[:5]}), "
        f"{len(missing)} missing (e.g. {missing[:5]})")
    for key, seq in per_key.items():
        assert seq == sorted(seq), f"key {key}: results out of input order: {seq[:20]}"
    uncommitted = read_topic(bootstrap, output, "read_uncommitted")
    return len(committed), len(uncommitted)


def run_until_done(bootstrap, topics, group, txn_id, tmp_path, first: Worker, broker=None,
                   timeout: float = 240) -> int:
    """Lets workers finish the input, restarting one that exits (a fatal
    error after the broker's restart is librdkafka's right); returns the
    number of workers started here."""
    worker, started = first, 0
    deadline = time.monotonic() + timeout
    while not group_done(bootstrap, group, topics[0]):
        assert time.monotonic() < deadline, f"input not consumed after {timeout}s; last events {worker.seen[-10:]}"
        if worker.proc.poll() is not None:
            worker.log.close()
            started += 1
            assert started <= 5, f"the worker keeps exiting; last events {worker.seen[-10:]}"
            worker = Worker(bootstrap, topics, group, txn_id, tmp_path / "worker.log")
        time.sleep(1)
    worker.drain()
    assert worker.stop() == 0, f"worker did not stop cleanly; events {worker.seen[-10:]}"
    return started


def test_worker_killed_mid_transaction(broker, topic, tmp_path):
    topics, group, txn_id = (f"{topic}-in", f"{topic}-out"), f"{topic}-g", f"{topic}-tx"
    fill_input(broker.bootstrap, topics[0])
    create_topic(broker.bootstrap, topics[1], PARTITIONS)

    # Twice: killed after a quarter and after half of the input, each time
    # with a batch produced and flushed but not committed.
    for threshold in (COUNT // 4, COUNT // 4):
        w = Worker(broker.bootstrap, topics, group, txn_id, tmp_path / "worker.log", pause_ms=400)
        w.wait_for(lambda e: e["ev"] == "committed" and e["total"] >= threshold, 120, f"{threshold} committed")
        w.wait_for(lambda e: e["ev"] == "produced", 60, "an open transaction")
        w.kill9()

    w = Worker(broker.bootstrap, topics, group, txn_id, tmp_path / "worker.log")
    run_until_done(broker.bootstrap, topics, group, txn_id, tmp_path, w)
    committed, uncommitted = check_exactly_once(broker.bootstrap, topics[1])
    # The kills did land inside transactions: their batches are in the log, aborted.
    assert uncommitted >= committed + 2 * 100, (
        f"read_uncommitted {uncommitted} vs read_committed {committed}: the killed transactions' "
        "records should be in the log (aborted)")


def test_broker_killed_mid_transaction(broker, topic, tmp_path):
    topics, group, txn_id = (f"{topic}-in", f"{topic}-out"), f"{topic}-g", f"{topic}-tx"
    fill_input(broker.bootstrap, topics[0])
    create_topic(broker.bootstrap, topics[1], PARTITIONS)

    w = Worker(broker.bootstrap, topics, group, txn_id, tmp_path / "worker.log", pause_ms=400)
    w.wait_for(lambda e: e["ev"] == "committed" and e["total"] >= COUNT // 4, 120, "a quarter committed")
    w.wait_for(lambda e: e["ev"] == "produced", 60, "an open transaction")
    broker.kill9()
    time.sleep(1)
    broker.start()
    run_until_done(broker.bootstrap, topics, group, txn_id, tmp_path, w)
    check_exactly_once(broker.bootstrap, topics[1])
