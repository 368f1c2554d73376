"""Consumer groups on the KIP-848 consumer protocol (ConsumerGroupHeartbeat,
broker-side assignment) with confluent-kafka (librdkafka) and
group.protocol=consumer. Each member is its own process (this file, run as
`python test_groups_kip848.py worker ...`), so a test can SIGKILL one.

The broker sets the members' session timeout and heartbeat interval
(group_consumer_session_timeout_ms / group_consumer_heartbeat_interval_ms
in fjord.toml); the tests shorten both so rebalances take seconds.

The worker's stdout is the event stream test_groups.py reads (assign,
revoke, recs, committed, closed), so its checks are reused here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SESSION_MS = 6000
HEARTBEAT_MS = 500


# ---------------------------------------------------------------------------
# the member process


def _emit(ev: str, **fields) -> None:
    sys.stdout.write(json.dumps({"ev": ev, "t": time.time() * 1000, **fields}) + "\n")
    sys.stdout.flush()


def _worker(argv: list[str]) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("group")
    ap.add_argument("--commit", choices=["auto", "manual"], default="manual")
    ap.add_argument("--assignor", default="")
    ap.add_argument("--instance-id", default="")
    ap.add_argument("--client-id", default="fjord-kip848-worker")
    a = ap.parse_args(argv)
    stop = threading.Event()

    def watch_stdin():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    conf = {
        "bootstrap.servers": a.bootstrap, "group.id": a.group, "client.id": a.client_id,
        "group.protocol": "consumer", "enable.auto.commit": a.commit == "auto",
        "auto.offset.reset": "earliest",
    }
    if a.assignor:
        conf["group.remote.assignor"] = a.assignor
    if a.instance_id:
        conf["group.instance.id"] = a.instance_id
    c = Consumer(conf)
    c.subscribe([a.topic],
                on_assign=lambda _c, parts: _emit("assign", parts=sorted(tp.partition for tp in parts)),
                on_revoke=lambda _c, parts: _emit("revoke", parts=sorted(tp.partition for tp in parts)),
                on_lost=lambda _c, parts: _emit("revoke", parts=sorted(tp.partition for tp in parts)))
    while not stop.is_set():
        recs = []
        for m in c.consume(500, timeout=0.2):
            if m.error():
                _emit("error", error=str(m.error()))
            else:
                recs.append((m.partition(), m.offset()))
        if not recs:
            continue
        _emit("recs", recs=recs)
        if a.commit == "manual":
            upto: dict[int, int] = {}
            for p, o in recs:
                upto[p] = max(upto.get(p, -1), o + 1)
            try:
                c.commit(offsets=[TopicPartition(a.topic, p, o) for p, o in upto.items()], asynchronous=False)
                _emit("committed", offsets={str(p): o for p, o in upto.items()})
            except KafkaException as e:  # a rebalance in between: redelivered later
                _emit("commit_failed", error=str(e))
    c.close()
    _emit("closed")


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    _worker(sys.argv[2:])
    sys.exit(0)


# ---------------------------------------------------------------------------
# the tests

from conftest import need  # noqa: E402
from helpers import create_topic  # noqa: E402
from test_groups import (  # noqa: E402,F401 (fixtures are used by name)
    BackgroundProducer, Worker, check_no_redelivery_past_commit, committed_offsets, end_offsets, java_group_classpath,
    produce, split_evenly, wait_until, workers,
)


class Member(Worker):
    """A group.protocol=consumer member; the event reading, stop and kill
    are test_groups.Worker's."""

    def __init__(self, bootstrap, topic, group, name, commit="manual", assignor="", instance_id=""):
        self.name = name
        cmd = [sys.executable, str(Path(__file__).resolve()), "worker", bootstrap, topic, group,
               "--commit", commit, "--client-id", name]
        if assignor:
            cmd += ["--assignor", assignor]
        if instance_id:
            cmd += ["--instance-id", instance_id]
        self.events: list[dict] = []
        self.stderr: list[str] = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()


@pytest.fixture
def kip848_broker(broker_factory, tmp_path):
    """A broker with a short consumer-protocol session timeout and heartbeat."""
    (tmp_path / "fjord.toml").write_text(
        "[broker]\n"
        f"group_consumer_session_timeout_ms = {SESSION_MS}\n"
        f"group_consumer_heartbeat_interval_ms = {HEARTBEAT_MS}\n")
    return broker_factory(start=False).start()


@pytest.fixture
def members():
    made: list[Member] = []

    def spawn(*args, **kwargs) -> Member:
        m = Member(*args, **kwargs)
        made.append(m)
        return m

    yield spawn
    for m in made:
        m.kill()


def _admin_checks(bootstrap: str, group: str, topic: str, held: list[set[int]], assignor: str) -> None:
    """ListGroups (type consumer), DescribeGroups and ConsumerGroupDescribe
    (through the wire) agree with what the members hold."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups(request_timeout=10).result()
    assert group in {g.group_id for g in listed.valid}, f"{group} not listed: {listed.valid} {listed.errors}"
    d = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    got = sorted(({tp.partition for tp in m.assignment.topic_partitions if tp.topic == topic} for m in d.members),
                 key=sorted)
    assert got == sorted(held, key=sorted), f"describe shows {got}, the members hold {held}"
    assert str(d.state).upper().endswith("STABLE"), d.state
    assert d.partition_assignor == assignor, d.partition_assignor


@pytest.mark.parametrize("assignor", ["", "range"])
def test_seed000_two_groups(kip848_broker, topic, members, assignor):
    """Seed 000 on the consumer protocol: group "db" of two members (each its
    own process) splits a 4-partition topic 2/2 and together gets each of
    10,000 keyed records once; group "backup" of one gets every record;
    both end with their commits at the end offsets. The assignor is the
    broker's default (uniform) or the one the client asks for."""
    b = kip848_broker
    create_topic(b.bootstrap, topic, 4)
    db = [members(b.bootstrap, topic, "db", f"db{i}", commit="auto", assignor=assignor) for i in (1, 2)]
    backup = members(b.bootstrap, topic, "backup", "backup", assignor=assignor)
    _seed000_checks(b.bootstrap, topic, db, backup,
                    admin=lambda held: _admin_checks(b.bootstrap, "db", topic, held, assignor or "uniform"))


def _seed000_checks(bootstrap, topic, db, backup, admin=None, assign_timeout=40) -> None:
    """The seed 000 assertions, whichever client the members are: db splits
    the 4 partitions 2/2 and reads each of 10,000 records once, backup reads
    every record, both groups commit to the end offsets. `admin(held)` runs
    extra checks while the members still hold their partitions."""
    everyone = [*db, backup]
    wait_until(lambda: split_evenly(db, 4) and backup.assignment() == {0, 1, 2, 3}, assign_timeout,
               "db split 2/2 and backup holding all 4", everyone)

    acks = set(produce(bootstrap, topic, 10_000))
    assert len(acks) == 10_000
    wait_until(lambda: set(db[0].records()) | set(db[1].records()) >= acks and set(backup.records()) >= acks,
               60, "every record in db and backup", everyone)
    held = {w.name: w.assignment() for w in db}
    if admin:
        admin(list(held.values()))
    for w in everyone:
        w.stop()

    got = db[0].records() + db[1].records()
    assert len(got) == len(set(got)) == 10_000, f"db got {len(got)} records, {len(set(got))} distinct"
    for w in db:
        assert {p for p, _ in w.records()} <= held[w.name], f"{w.name} read outside its assignment"
    assert sorted(backup.records()) == sorted(acks), "backup did not get each record once"
    end = end_offsets(bootstrap, topic, 4)
    for group in ("db", "backup"):
        assert committed_offsets(bootstrap, group, topic, 4) == end, f"group {group} did not commit to the end"


def test_join_leave_and_kill(kip848_broker, topic, members):
    """Two members split 6 partitions; a third joins (2/2/2); one leaves
    cleanly (its partitions move at once); then one is SIGKILLed: its
    partitions move only after the broker's session timeout. Records flow
    throughout, commits are manual after processing: every record is
    processed, none below an offset already committed."""
    b = kip848_broker
    create_topic(b.bootstrap, topic, 6)
    spawn = lambda i: members(b.bootstrap, topic, "g", f"m{i}")
    m1, m2 = spawn(1), spawn(2)
    wait_until(lambda: split_evenly([m1, m2], 6), 30, "two members splitting 6 partitions", [m1, m2])
    producer = BackgroundProducer(b.bootstrap, topic)
    try:
        wait_until(lambda: m1.records() and m2.records(), 20, "records flowing to both", [m1, m2])
        m3 = spawn(3)
        wait_until(lambda: split_evenly([m1, m2, m3], 6) and all(len(w.assignment()) == 2 for w in (m1, m2, m3)),
                   30, "three members holding 2 partitions each", [m1, m2, m3])
        wait_until(lambda: m3.records(), 20, "records flowing to the new member", [m1, m2, m3])

        left_at = time.monotonic()
        m3.stop()
        wait_until(lambda: split_evenly([m1, m2], 6), 15, "the others taking the leaver's partitions", [m1, m2])
        assert time.monotonic() - left_at < SESSION_MS / 1000, "a clean leave waited for the session timeout"

        victim_parts = m2.assignment()
        killed_at = time.monotonic()
        m2.kill()
        wait_until(lambda: m1.assignment() == set(range(6)), SESSION_MS / 1000 + 20,
                   "the survivor taking the killed member's partitions", [m1])
        moved_after = time.monotonic() - killed_at
        # Without a leave heartbeat the broker only learns from the session timeout.
        assert moved_after > SESSION_MS / 1000 * 0.5, f"partitions moved after {moved_after:.1f}s"
        assert victim_parts <= m1.assignment()
        time.sleep(0.5)
    finally:
        acks = set(producer.stop())
    wait_until(lambda: set(m1.records()) | set(m2.records()) | set(m3.records()) >= acks, 30,
               f"all {len(acks)} records processed", [m1])
    m1.stop()
    check_no_redelivery_past_commit([m1, m2, m3])


def test_members_keep_their_partitions_across_a_broker_kill(kip848_broker, topic, members):
    """The broker stores consumer-protocol members and their assignments as
    Kafka does: after a kill -9 and restart of the broker, librdkafka's
    members go on heartbeating with their epochs. No partition is revoked,
    lost or reassigned, and records flow to both again."""
    b = kip848_broker
    create_topic(b.bootstrap, topic, 4)
    m1, m2 = members(b.bootstrap, topic, "g", "m1"), members(b.bootstrap, topic, "g", "m2")
    wait_until(lambda: split_evenly([m1, m2], 4), 30, "two members splitting 4 partitions", [m1, m2])
    held = (m1.assignment(), m2.assignment())
    produce(b.bootstrap, topic, 40)
    wait_until(lambda: m1.records() and m2.records(), 20, "records flowing to both", [m1, m2])
    events_before = (len(m1.snapshot()), len(m2.snapshot()))

    b.kill9()
    b.start()
    acks = set(produce(b.bootstrap, topic, 40, start=40))
    wait_until(lambda: set(m1.records()) | set(m2.records()) >= acks, 30,
               "records written after the restart reaching the members", [m1, m2])
    # Several heartbeat intervals after the restart: still no rebalance.
    time.sleep(3 * HEARTBEAT_MS / 1000)
    for m, before in zip((m1, m2), events_before):
        moves = [e for e in m.snapshot()[before:] if e["ev"] in ("assign", "revoke")]
        assert not moves, f"{m.name} rebalanced across the restart: {moves}; {m.describe()}"
    assert (m1.assignment(), m2.assignment()) == held
    m1.stop()
    m2.stop()


def test_classic_join_to_a_consumer_group_is_refused(kip848_broker, topic, members):
    """A group id is one protocol or the other: a classic member joining a
    live consumer-protocol group is refused (INCONSISTENT_GROUP_PROTOCOL)
    and gets nothing; the consumer-protocol member keeps its partitions."""
    from confluent_kafka import Consumer, KafkaError

    b = kip848_broker
    create_topic(b.bootstrap, topic, 2)
    m = members(b.bootstrap, topic, "mixed", "m1")
    wait_until(lambda: m.assignment() == {0, 1}, 30, "the consumer-protocol member holding both", [m])
    errors: list = []
    assigned: list = []
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "mixed", "group.protocol": "classic",
                  "error_cb": errors.append})
    try:
        c.subscribe([topic], on_assign=lambda _c, parts: assigned.extend(parts))
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is not None and msg.error() is not None:
                errors.append(msg.error())
    finally:
        c.close()
    assert not [tp for tp in assigned], f"the classic member was assigned {assigned}"
    codes = {e.code() for e in errors}
    assert not codes or KafkaError.INCONSISTENT_GROUP_PROTOCOL in codes, errors
    assert m.assignment() == {0, 1}


def test_seed000_java_consumer_protocol(kip848_broker, topic, workers):
    """Seed 000 with the Java client 3.9.1 on group.protocol=consumer: "db"
    (two JVMs) splits 4 partitions 2/2 and gets each record once, "backup"
    gets every record, both commit to the end."""
    b = kip848_broker
    create_topic(b.bootstrap, topic, 4)
    db = [workers("java", b.bootstrap, topic, "db", commit="auto", name=f"db{i}", protocol="consumer")
          for i in (1, 2)]
    backup = workers("java", b.bootstrap, topic, "backup", name="backup", protocol="consumer")
    # JVM start-up of three members takes longer than librdkafka's.
    _seed000_checks(b.bootstrap, topic, db, backup, assign_timeout=60)
