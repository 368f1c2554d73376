"""Consumer groups, classic protocol, with real clients: kafka-python 3.x,
confluent-kafka (librdkafka) and the Java kafka-clients jar. Each member is
its own process (groups_worker.py, tests/java/GroupConformance.java) so a
test can SIGKILL one; the scenarios are written once and parametrized over
the clients they apply to.

The seed 000 scenario runs at the broker's default initial rebalance delay
(3 s); the others lower it to 200 ms in fjord.toml and use short session
timeouts where the test is not about the defaults.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import compile_java
from helpers import create_topic

WORKER = Path(__file__).with_name("groups_worker.py")
CLIENTS = ["kafka-python", "confluent", "java"]
# The old kafka-python releases scripts/test.sh installs (FJORD_KP_PYTHONS):
# they speak older JoinGroup/OffsetCommit/OffsetFetch versions.
OLD_KP = {
    f"kafka-python-{m.group(1)}": py
    for py in filter(None, os.environ.get("FJORD_KP_PYTHONS", "").split(":"))
    if (m := re.search(r"kp([0-9][0-9.]*)", py))
}
SESSION_MS = 6000  # the broker's group.min.session.timeout.ms


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def java_group_classpath(tmp_path_factory) -> str:
    return compile_java(tmp_path_factory, "java-group-classes", "GroupConformance.java")


@pytest.fixture
def fast_broker(broker_factory, tmp_path):
    """A broker whose new groups wait 200 ms, not 3 s, for more members."""
    (tmp_path / "fjord.toml").write_text("[broker]\ngroup_initial_rebalance_delay_ms = 200\n")
    b = broker_factory(start=False)
    return b.start()


@pytest.fixture
def workers(request):
    """spawn(client, bootstrap, topic, group, **opts) -> Worker; every
    worker still running at teardown is killed."""
    made: list[Worker] = []
    classpath = None

    def spawn(client, bootstrap, topic, group, **opts) -> Worker:
        nonlocal classpath
        if client == "java" and classpath is None:
            classpath = request.getfixturevalue("java_group_classpath")
        w = Worker(client, bootstrap, topic, group, classpath=classpath, **opts)
        made.append(w)
        return w

    yield spawn
    for w in made:
        w.kill()


# ---------------------------------------------------------------------------
# a member process


class Worker:
    def __init__(self, client, bootstrap, topic, group, classpath=None, commit="manual",
                 reset="earliest", session_ms=0, assignor="", instance_id="", name="", protocol=""):
        self.name = name or f"{client}-{group}"
        opts = ["--commit", commit, "--reset", reset, "--session-ms", str(session_ms)]
        if protocol:  # the Java worker only: "consumer" for KIP-848
            opts += ["--protocol", protocol]
        if assignor:
            opts += ["--assignor", assignor]
        if instance_id:
            opts += ["--instance-id", instance_id]
        opts += ["--client-id", self.name]
        if client == "java":
            cmd = ["java", "-cp", classpath, "GroupConformance", bootstrap, topic, group, *opts]
        elif client in OLD_KP:
            cmd = [OLD_KP[client], str(WORKER), "kafka-python", bootstrap, topic, group, *opts]
        else:
            cmd = [sys.executable, str(WORKER), client, bootstrap, topic, group, *opts]
        self.events: list[dict] = []
        self.stderr: list[str] = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue
            ev = json.loads(line)
            ev["who"] = self.name
            with self.lock:
                self.events.append(ev)

    def _read_stderr(self):
        for line in self.proc.stderr:
            with self.lock:
                self.stderr.append(line.rstrip())
                del self.stderr[:-200]

    def snapshot(self, ev: str | None = None) -> list[dict]:
        with self.lock:
            return [e for e in self.events if ev is None or e["ev"] == ev]

    def assignment(self) -> set[int]:
        """The partitions it holds now, from its assign/revoke callbacks."""
        held: set[int] = set()
        for e in self.snapshot():
            if e["ev"] == "assign":
                held |= set(e["parts"])
            elif e["ev"] == "revoke":
                held -= set(e["parts"])
        return held

    def records(self) -> list[tuple[int, int]]:
        return [(p, o) for e in self.snapshot("recs") for p, o in e["recs"]]

    def committed(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for e in self.snapshot("committed"):
            for p, o in e["offsets"].items():
                out[int(p)] = max(out.get(int(p), -1), o)
        return out

    def describe(self) -> str:
        evs = [e for e in self.snapshot() if e["ev"] != "recs"]
        return (f"{self.name} (pid {self.proc.pid}, exit {self.proc.poll()}): holds {sorted(self.assignment())}, "
                f"{len(self.records())} records; events {evs[-12:]}; stderr tail: {self.stderr[-15:]}")

    def stop(self, timeout=30.0):
        """Clean close (commit, LeaveGroup); returns when the process exited."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop within {timeout}s: {self.describe()}")
        assert self.snapshot("closed"), f"{self.name} exited without closing: {self.describe()}"

    def kill(self):
        """SIGKILL: no commit, no LeaveGroup."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def wait_until(pred, timeout: float, what: str, workers=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        for w in workers:
            if w.proc.poll() is not None and not w.snapshot("closed"):
                raise AssertionError(f"{w.name} died while waiting for {what}: {w.describe()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n" + "\n".join(w.describe() for w in workers))


def split_evenly(ws, partitions: int) -> bool:
    """The members hold disjoint sets that cover every partition, sizes
    differing by at most one."""
    held = [w.assignment() for w in ws]
    union = set().union(*held)
    sizes = [len(h) for h in held]
    return sum(sizes) == partitions == len(union) and max(sizes) - min(sizes) <= 1


# ---------------------------------------------------------------------------
# producing and checking


def produce(bootstrap: str, topic: str, count: int, start: int = 0) -> list[tuple[int, int]]:
    """`count` keyed records (key-{i % 100}); returns their (partition, offset)."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    acks: list[tuple[int, int]] = []
    errors: list[str] = []

    def report(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acks.append((msg.partition(), msg.offset()))

    for i in range(start, start + count):
        while True:
            try:
                p.produce(topic, key=f"key-{i % 100}", value=f"value-{i}", on_delivery=report)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    assert p.flush(30) == 0 and not errors, f"produce failed: {errors[:5]}"
    return acks


class BackgroundProducer:
    """Produces batches of records until stopped, so rebalances happen
    while records flow."""

    def __init__(self, bootstrap, topic, batch=20, every=0.05):
        self.bootstrap, self.topic, self.batch, self.every = bootstrap, topic, batch, every
        self.acks: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            n = 0
            while not self._stop.is_set():
                self.acks += produce(self.bootstrap, self.topic, self.batch, start=n)
                n += self.batch
                time.sleep(self.every)
        except BaseException as e:  # reported by stop()
            self._error = e

    def stop(self) -> list[tuple[int, int]]:
        self._stop.set()
        self._thread.join(timeout=60)
        if self._error:
            raise self._error
        return sorted(self.acks)


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fjord-groups-probe"})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        c.close()


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """OffsetFetch through librdkafka: what `group` has committed."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def check_described(bootstrap: str, group: str, topic: str, assignments: list[set[int]]) -> None:
    """ListGroups and DescribeGroups through librdkafka's admin client: the
    group is listed, Stable, on the range assignor, and each member's
    assignment is what the members hold."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups(request_timeout=10).result()
    assert group in {g.group_id for g in listed.valid}, f"{group} not listed: {listed.valid} {listed.errors}"
    d = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    assert d.state == ConsumerGroupState.STABLE, d.state
    assert d.partition_assignor == "range" and not d.is_simple_consumer_group
    got = sorted(({tp.partition for tp in m.assignment.topic_partitions if tp.topic == topic} for m in d.members),
                 key=sorted)
    assert got == assignments, f"DescribeGroups shows {got}, the members hold {assignments}"


def check_no_redelivery_past_commit(ws) -> None:
    """Over every member's events in time order: no partition hands out an
    offset below what some member committed for it before."""
    events = sorted((e for w in ws for e in w.snapshot() if e["ev"] in ("recs", "committed")),
                    key=lambda e: e["t"])
    committed: dict[int, int] = {}
    bad = []
    for e in events:
        if e["ev"] == "committed":
            for p, o in e["offsets"].items():
                committed[int(p)] = max(committed.get(int(p), 0), o)
        else:
            bad += [(e["who"], p, o, committed[p]) for p, o in e["recs"] if o < committed.get(p, 0)]
    assert not bad, f"{len(bad)} records delivered again below a committed offset (member, partition, offset, committed): {bad[:10]}"


# ---------------------------------------------------------------------------
# scenarios


@pytest.mark.parametrize("client", CLIENTS + list(OLD_KP))
def test_seed000_two_groups(broker, topic, workers, client):
    """Seed 000 at the broker's defaults: group "db" of two members splits a
    4-partition topic (2 each, disjoint) and together gets each of 10,000
    keyed records once; group "backup" of one gets every record. "db"
    auto-commits, "backup" commits by hand; both end at the end offsets."""
    create_topic(broker.bootstrap, topic, 4)
    db = [workers(client, broker.bootstrap, topic, "db", commit="auto", name=f"{client}-db{i}") for i in (1, 2)]
    backup = workers(client, broker.bootstrap, topic, "backup", commit="manual", name=f"{client}-backup")
    everyone = [*db, backup]
    wait_until(lambda: split_evenly(db, 4) and backup.assignment() == {0, 1, 2, 3}, 40,
               "db split 2/2 and backup holding all 4", everyone)
    assert [len(w.assignment()) for w in db] == [2, 2]

    acks = set(produce(broker.bootstrap, topic, 10_000))
    assert len(acks) == 10_000
    wait_until(lambda: set(db[0].records()) | set(db[1].records()) >= acks and set(backup.records()) >= acks,
               60, "every record in db and backup", everyone)
    held = {w.name: w.assignment() for w in db}
    check_described(broker.bootstrap, "db", topic, sorted(held.values(), key=sorted))
    check_described(broker.bootstrap, "backup", topic, [{0, 1, 2, 3}])
    for w in everyone:
        w.stop()

    got = db[0].records() + db[1].records()
    assert len(got) == len(set(got)) == 10_000, f"db got {len(got)} records, {len(set(got))} distinct"
    for w in db:
        assert {p for p, _ in w.records()} <= held[w.name], f"{w.name} read outside its assignment"
    assert sorted(backup.records()) == sorted(acks), "backup did not get each record once"
    end = end_offsets(broker.bootstrap, topic, 4)
    assert sum(end.values()) == 10_000
    for group in ("db", "backup"):
        assert committed_offsets(broker.bootstrap, group, topic, 4) == end, f"group {group} did not commit to the end"


REBALANCE = [
    ("kafka-python", "range"),
    *((old, "range") for old in OLD_KP),
    ("confluent", "range"),
    ("confluent", "cooperative-sticky"),
    ("java", "range"),
    ("java", "cooperative-sticky"),
]


@pytest.mark.parametrize("client,assignor", REBALANCE, ids=[f"{c}-{a}" for c, a in REBALANCE])
def test_rebalance_join_then_kill(fast_broker, topic, workers, client, assignor):
    """Two members, a third joins (6 partitions spread 2/2/2), then one is
    SIGKILLed (no LeaveGroup): after its session times out the survivors
    take its partitions. Records flow throughout; commits are manual, after
    processing. Every record is processed at least once and none below an
    offset already committed for its partition."""
    b = fast_broker
    create_topic(b.bootstrap, topic, 6)
    spawn = lambda i: workers(client, b.bootstrap, topic, "g", session_ms=SESSION_MS, assignor=assignor,
                              name=f"{client}-m{i}")
    m1, m2 = spawn(1), spawn(2)
    wait_until(lambda: split_evenly([m1, m2], 6), 30, "two members splitting 6 partitions", [m1, m2])
    producer = BackgroundProducer(b.bootstrap, topic)
    try:
        wait_until(lambda: m1.records() and m2.records(), 20, "records flowing to both", [m1, m2])
        m3 = spawn(3)
        wait_until(lambda: split_evenly([m1, m2, m3], 6) and all(len(w.assignment()) == 2 for w in (m1, m2, m3)),
                   30, "three members holding 2 partitions each", [m1, m2, m3])
        wait_until(lambda: m3.records(), 20, "records flowing to the new member", [m1, m2, m3])

        # m1 joined first: it is most likely the leader, which makes the
        # next rebalance elect another.
        victim_parts = m1.assignment()
        killed_at = time.monotonic()
        m1.kill()
        wait_until(lambda: split_evenly([m2, m3], 6), SESSION_MS / 1000 + 25,
                   "the survivors taking the killed member's partitions", [m2, m3])
        moved_after = time.monotonic() - killed_at
        # Without a LeaveGroup the coordinator only learns from the session timeout.
        assert moved_after > SESSION_MS / 1000 * 0.5, f"partitions moved after {moved_after:.1f}s"
        assert victim_parts <= m2.assignment() | m3.assignment()
        time.sleep(0.5)
    finally:
        acks = set(producer.stop())
    wait_until(lambda: set(m1.records()) | set(m2.records()) | set(m3.records()) >= acks, 30,
               f"all {len(acks)} records processed", [m2, m3])
    for w in (m2, m3):
        w.stop()
    check_no_redelivery_past_commit([m1, m2, m3])
    got = set(m1.records()) | set(m2.records()) | set(m3.records())
    assert got >= acks, f"{len(acks - got)} records never processed"


STATIC = ["kafka-python", "confluent", "java"]


@pytest.mark.parametrize("client", STATIC)
def test_static_member_restart_keeps_partitions(fast_broker, topic, workers, client):
    """Static membership (group.instance.id): a member killed and restarted
    within its session timeout gets its partitions back and the other
    member sees no rebalance (no revoke or assign; Java: same generation).
    Both members are restarted in turn, so one of them is the leader."""
    b = fast_broker
    create_topic(b.bootstrap, topic, 4)
    session = 15_000
    spawn = lambda inst, tag: workers(client, b.bootstrap, topic, "static", session_ms=session,
                                      instance_id=inst, name=f"{client}-{tag}")
    # One member, then two: the group goes through two generations, so the
    # Java client's subscription metadata (it carries the last generation)
    # differs between a member and its restarted self.
    members = {"inst-a": spawn("inst-a", "a")}
    wait_until(lambda: members["inst-a"].assignment() == {0, 1, 2, 3}, 30, "the first static member",
               list(members.values()))
    members["inst-b"] = spawn("inst-b", "b")
    wait_until(lambda: split_evenly(list(members.values()), 4), 30, "two static members splitting 4 partitions",
               list(members.values()))
    gen = None
    n = 0
    for inst, other_inst in (("inst-a", "inst-b"), ("inst-b", "inst-a")):
        old, other = members[inst], members[other_inst]
        time.sleep(0.3)
        mine, before = old.assignment(), len(other.snapshot())
        gens = [e["gen"] for e in old.snapshot("assign") if "gen" in e]
        gen = gens[-1] if gens else None
        old.kill()
        restarted_at = time.monotonic()
        new = members[inst] = spawn(inst, f"{inst}-again")
        wait_until(lambda: new.assignment() == mine, 20, f"restarted {inst} getting {sorted(mine)} back", [new, other])
        assert time.monotonic() - restarted_at < session / 1000, "restart took longer than the session timeout"
        acks = set(produce(b.bootstrap, topic, 100, start=n))
        n += 100
        wait_until(lambda: set(new.records()) | set(other.records()) >= acks, 20, "records to both", [new, other])
        rebalanced = [e for e in other.snapshot()[before:] if e["ev"] in ("assign", "revoke")]
        assert not rebalanced, f"restarting {inst}: the other member went through a rebalance: {rebalanced}"
        if gen is not None:
            gens2 = [e["gen"] for e in new.snapshot("assign")]
            assert gens2 == [gen], f"restarting {inst}: generation {gen} became {gens2}"
    for w in members.values():
        w.stop()


@pytest.mark.parametrize("client", CLIENTS + list(OLD_KP))
def test_stop_and_resume(broker_factory, tmp_path, topic, workers, client):
    """A member commits, stops, and a new one continues from the committed
    offsets: with the broker left running, across a clean broker restart
    and across a kill -9 of the broker. Each round reads exactly the
    records produced since the last."""
    (tmp_path / "fjord.toml").write_text("[broker]\ngroup_initial_rebalance_delay_ms = 200\n")
    b = broker_factory(start=False).start()
    create_topic(b.bootstrap, topic, 2)
    n = 0
    for round_, restart in enumerate(["none", "clean", "kill9"]):
        if restart == "clean":
            b.restart(clean=True)
        elif restart == "kill9":
            b.kill9()
            b.start()
        acks = set(produce(b.bootstrap, topic, 300, start=n))
        n += 300
        w = workers(client, b.bootstrap, topic, "resume", session_ms=SESSION_MS, name=f"{client}-r{round_}")
        end = end_offsets(b.bootstrap, topic, 2)
        wait_until(lambda: w.committed() == end, 40, f"round {round_} ({restart}): committing up to {end}", [w])
        w.stop()
        got = w.records()
        assert sorted(got) == sorted(acks), (
            f"round {round_} after {restart} restart: read {len(got)} ({len(set(got))} distinct), "
            f"want the {len(acks)} new records; first read per partition "
            f"{ {p: min(o for q, o in got if q == p) for p, _ in got} }"
        )
        assert committed_offsets(b.bootstrap, "resume", topic, 2) == end


@pytest.mark.parametrize("reset", ["earliest", "latest"])
@pytest.mark.parametrize("client", CLIENTS)
def test_auto_offset_reset_new_group(fast_broker, topic, workers, client, reset):
    """A new group with no committed offsets starts at the log start
    (earliest) or at the end (latest: only records produced after it
    joined)."""
    b = fast_broker
    create_topic(b.bootstrap, topic, 2)
    old = set(produce(b.bootstrap, topic, 100))
    w = workers(client, b.bootstrap, topic, f"reset-{reset}", reset=reset, session_ms=SESSION_MS)
    wait_until(lambda: w.assignment() == {0, 1}, 30, "assignment", [w])
    # Let "latest" resolve before producing more.
    time.sleep(1.5)
    new = set(produce(b.bootstrap, topic, 50, start=100))
    want = new if reset == "latest" else old | new
    wait_until(lambda: set(w.records()) >= want, 20, f"{len(want)} records", [w])
    time.sleep(0.3)
    w.stop()
    assert sorted(w.records()) == sorted(want)


# kill -9 with every client; a clean restart replays the same way, once.
LIVE = [(c, "kill9") for c in CLIENTS] + [("confluent", "clean")]


@pytest.mark.parametrize("client,how", LIVE, ids=[f"{c}-{h}" for c, h in LIVE])
def test_live_group_across_broker_restart(fast_broker, topic, workers, client, how):
    """Two members keep running while the broker restarts (members are not
    persisted: the group comes back Empty with its committed offsets). They
    find the coordinator again, rejoin, split the partitions and continue
    from the committed offsets; nothing below a commit is redelivered."""
    b = fast_broker
    create_topic(b.bootstrap, topic, 4)
    ms = [workers(client, b.bootstrap, topic, "live", session_ms=SESSION_MS, name=f"{client}-live{i}") for i in (1, 2)]
    wait_until(lambda: split_evenly(ms, 4), 30, "two members splitting 4 partitions", ms)
    acks = set(produce(b.bootstrap, topic, 400))
    end = end_offsets(b.bootstrap, topic, 4)
    committed = lambda: {p: o for w in ms for p, o in w.committed().items()}
    wait_until(lambda: committed() == end, 20, "commits up to the end", ms)
    if how == "clean":
        b.restart(clean=True)
    else:
        b.kill9()
        b.start()
    acks |= set(produce(b.bootstrap, topic, 400, start=400))
    end = end_offsets(b.bootstrap, topic, 4)
    wait_until(lambda: set(ms[0].records()) | set(ms[1].records()) >= acks, 40,
               "every record after the restart", ms)
    wait_until(lambda: split_evenly(ms, 4) and committed() == end, 30, "the group settled and committed", ms)
    for w in ms:
        w.stop()
    check_no_redelivery_past_commit(ms)
    assert committed_offsets(b.bootstrap, "live", topic, 4) == end
