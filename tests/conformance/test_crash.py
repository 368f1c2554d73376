"""kill -9 under load: two confluent-kafka producers with acks=all write
continuously; the broker is killed mid-stream and restarted on the same data
dir (same port, so the producers reconnect). Every record whose delivery was
confirmed must then be present exactly once, at the offset it was confirmed
at, and in production order within its partition.

Two producer flavours:
- retries off (not idempotent): the client never resends, so any duplicate is
  the broker's doing; checks durability of acknowledged writes alone.
- idempotent (retries on): in-flight batches are resent after the restart;
  the broker must have recovered its producer state to drop the copies.
"""

import threading
import time

import pytest
from confluent_kafka import Producer

from helpers import create_topic, read_all

PARTITIONS = 2
PRODUCERS = 2


class Writer(threading.Thread):
    """Produces `p<n>-<seq>` values until stopped; records confirmed ones."""

    def __init__(self, n, bootstrap, topic, conf):
        super().__init__(daemon=True, name=f"writer-{n}")
        self.n = n
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
                                  "message.timeout.ms": 20000, **conf})
        self.acked = []  # (value, partition, offset)
        self.failed = 0
        self.sent = 0
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()

    def _cb(self, err, msg):
        with self.lock:
            if err is None:
                self.acked.append((msg.value().decode(), msg.partition(), msg.offset()))
            else:
                self.failed += 1

    def run(self):
        seq = 0
        while not self.stop_flag.is_set():
            try:
                self.producer.produce(self.topic, key=f"p{self.n}-k{seq % 7}", value=f"p{self.n}-{seq}",
                                      on_delivery=self._cb)
                seq += 1
                self.sent = seq
            except BufferError:
                self.producer.poll(0.05)
                continue
            self.producer.poll(0)
            if seq % 200 == 0:
                time.sleep(0.005)  # a steady stream, not a flood of one giant batch

    def finish(self, timeout):
        self.stop_flag.set()
        self.join(10)
        return self.producer.flush(timeout)

    def acked_count(self):
        with self.lock:
            return len(self.acked)


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.parametrize("flavour", ["no-retries", "idempotent"])
def test_kill9_keeps_every_acknowledged_record(broker, topic, flavour):
    create_topic(broker.bootstrap, topic, PARTITIONS)
    conf = ({"enable.idempotence": False, "retries": 0} if flavour == "no-retries"
            else {"enable.idempotence": True})
    writers = [Writer(n, broker.bootstrap, topic, conf) for n in range(PRODUCERS)]
    for w in writers:
        w.start()

    # Let acknowledged records pile up, then kill mid-stream.
    wait_until(lambda: all(w.acked_count() >= 1000 for w in writers), 60, "1000 acks per producer")
    acked_before_kill = sum(w.acked_count() for w in writers)
    broker.kill9()
    time.sleep(0.5)
    broker.start()
    # Keep producing after the restart: the log must be appendable and the
    # producers must get through again.
    base = [w.acked_count() for w in writers]
    wait_until(lambda: all(w.acked_count() >= b + 300 for w, b in zip(writers, base)), 60,
               "300 more acks per producer after the restart")
    for w in writers:
        left = w.finish(30)
        assert left == 0, f"producer {w.n}: {left} messages still queued 30 s after stop"
    if flavour == "idempotent":
        failed = sum(w.failed for w in writers)
        assert failed == 0, f"{failed} deliveries failed for idempotent producers across the restart"

    acked = [a for w in writers for a in w.acked]
    recs = read_all(broker.bootstrap, topic, PARTITIONS, timeout=120)
    at = {(r.partition, r.offset): r.value.decode() for r in recs}
    values = [r.value.decode() for r in recs]

    # 1. Every acknowledged record is where its delivery report said.
    misplaced = [(v, p, o, at.get((p, o))) for v, p, o in acked if at.get((p, o)) != v]
    assert not misplaced, (
        f"{len(misplaced)} of {len(acked)} acknowledged records not at their acknowledged offset "
        f"({acked_before_kill} acked before the kill), e.g. (value, partition, offset, found) {misplaced[:5]}"
    )
    # 2. Exactly once.
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    dup = [(v, counts[v]) for v, _, _ in acked if counts[v] != 1]
    assert not dup, f"acknowledged records stored more than once: {dup[:5]}"
    # 3. In order within each partition, per producer.
    for part in range(PARTITIONS):
        seqs = {}
        for r in sorted((r for r in recs if r.partition == part), key=lambda r: r.offset):
            prod, seq = r.value.decode().split("-")
            seqs.setdefault(prod, []).append(int(seq))
        for prod, s in seqs.items():
            bad = [(a, b) for a, b in zip(s, s[1:]) if b <= a]
            assert not bad, f"partition {part}, producer {prod}: out of order or repeated: {bad[:5]}"
