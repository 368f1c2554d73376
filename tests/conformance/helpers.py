"""Shared pieces of the conformance suite: the Broker process handle, free
ports, and a confluent-kafka based reader used to verify what a topic holds.

Everything here talks to 127.0.0.1 only and every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def fjord_bin() -> Path:
    return Path(os.environ.get("FJORD_BIN", REPO / "target" / "debug" / "fjord"))


def free_port() -> int:
    """A port that was free a moment ago (bind to :0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"broker exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError as e:
            last = e
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s: {last}")


class Broker:
    """One `fjord serve` process on a data dir that outlives restarts.

    The port is chosen once and kept across restarts, so clients that stay
    alive through a kill -9 can reconnect to the same address. stderr of every
    incarnation is appended to one log file, with a marker line per start.
    """

    START_TIMEOUT = 30.0
    STOP_TIMEOUT = 30.0

    def __init__(self, data_dir: Path, log_path: Path, advertised: str | None = None):
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.advertised = advertised
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._log = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [str(fjord_bin()), "serve", "--listen", self.bootstrap, "--data-dir", str(self.data_dir)]
        if self.advertised:
            cmd += ["--advertised-listener", self.advertised]
        # No embedded connect worker either: its 127.0.0.1:8083 is another
        # port every broker would race for, and its topics and group would
        # show in the listings tests check.
        return cmd + self.registry_args() + ["--no-connect"]

    def registry_args(self) -> list[str]:
        # No embedded registry: its default 127.0.0.1:8081 is one port that
        # every broker of a parallel run would race for (RegistryBroker
        # gives each its own).
        return ["--no-registry"]

    def start(self) -> "Broker":
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        self._log.flush()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        env.setdefault("NO_COLOR", "1")  # plain log lines in failure reports
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, env=env,
            # Not the repo root: serve reads ./fjord.toml when present.
            cwd=self.data_dir.parent,
        )
        try:
            wait_for_port(self.port, self.START_TIMEOUT, self.proc)
        except Exception:
            self._reap(signal.SIGKILL)
            raise
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, clean: bool = True) -> int:
        """SIGINT (clean) and wait; returns the exit code. Raises if the
        broker does not exit in time (it is then killed)."""
        if not self.alive():
            return self._reap(None)
        return self._reap(signal.SIGINT if clean else signal.SIGKILL)

    def terminate(self) -> int:
        return self._reap(signal.SIGTERM)

    def kill9(self) -> int:
        return self._reap(signal.SIGKILL)

    def restart(self, clean: bool = True) -> "Broker":
        self.stop(clean=clean)
        return self.start()

    def _reap(self, sig) -> int:
        assert self.proc is not None
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise TimeoutError(f"broker did not exit within {self.STOP_TIMEOUT}s of {sig!r}; killed")
        finally:
            if self._log:
                self._log.write(f"===== exit code {self.proc.returncode}\n".encode())
                self._log.close()
                self._log = None
        return code

    def log_text(self, tail_bytes: int = 60_000) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        if len(data) > tail_bytes:
            data = b"...(truncated)...\n" + data[-tail_bytes:]
        return data.decode(errors="replace")


# ---------------------------------------------------------------------------
# Verification reader (confluent-kafka, manual assignment)


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


# librdkafka refuses to build a consumer without group.id even when it will
# only use assign(); this one is never subscribed and never commits.
UNUSED_GROUP = "fjord-conformance-unused"


def consumer_conf(bootstrap: str, **extra) -> dict:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": UNUSED_GROUP,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "socket.timeout.ms": 10000,
        "topic.metadata.refresh.interval.ms": 2000,
    }
    conf.update(extra)
    return conf


def read_all(bootstrap: str, topic: str, partitions: int, timeout: float = 60.0,
             expect: int | None = None) -> list[Rec]:
    """Read every partition of `topic` from the beginning up to its end.

    Stops when every partition reported EOF (and, if `expect` is given, at
    least that many records were read) or at `timeout`.
    """
    from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING

    c = Consumer(consumer_conf(bootstrap))
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        out: list[Rec] = []
        eof: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(msg.partition())
                    if len(eof) == partitions and (expect is None or len(out) >= expect):
                        break
                    continue
                raise AssertionError(f"consumer error on {topic}: {msg.error()}")
            eof.discard(msg.partition())
            out.append(Rec(msg.partition(), msg.offset(), msg.key(), msg.value()))
        else:
            raise TimeoutError(
                f"read_all({topic}): {len(out)} records, EOF on partitions {sorted(eof)} "
                f"of {partitions} after {timeout}s"
            )
        return out
    finally:
        c.close()


def create_topic(bootstrap: str, name: str, partitions: int, config: dict | None = None,
                 timeout: float = 30.0) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futs = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        request_timeout=timeout,
    )
    futs[name].result(timeout=timeout)


def check_keyed(recs: list[Rec], expected_values: dict[bytes, list[bytes]]) -> None:
    """Seed 001 checks: every expected record is there exactly once; one key,
    one partition; per key, values come in the order they were produced."""
    by_key: dict[bytes, list[Rec]] = {}
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(r.key, []).append(r)
    assert set(by_key) == set(expected_values), (
        f"keys read {sorted(by_key)} != keys produced {sorted(expected_values)}"
    )
    for key, want in expected_values.items():
        got = by_key[key]
        parts = {r.partition for r in got}
        assert len(parts) == 1, f"key {key!r} spread over partitions {sorted(parts)}"
        assert [r.value for r in got] == want, (
            f"key {key!r}: {len(got)} values read, {len(want)} produced; "
            f"first difference at {next((i for i, (a, b) in enumerate(zip((r.value for r in got), want)) if a != b), min(len(got), len(want)))}"
        )


def check_seed001(records: list, count: int, acks: list | None = None, keys: int = 10) -> None:
    """Checks a seed-001 run: `count` messages produced in order i=0..count-1
    with key `key-{i % keys}` and value `value-{i}`.

    records: [partition, offset, key, value] as read back from the earliest offset.
    acks: optional [i, partition, offset] from the producer's delivery reports.
    """
    assert records, "nothing was read back"
    positions = [(r[0], r[1]) for r in records]
    assert len(set(positions)) == len(positions), "the same (partition, offset) was read twice"
    values = [r[3] for r in records]
    dups = sorted({v for v in values if values.count(v) > 1}) if len(set(values)) != len(values) else []
    assert not dups, f"{len(values) - len(set(values))} duplicate values read, e.g. {dups[:5]}"
    want = {f"value-{i}" for i in range(count)}
    missing = sorted(want - set(values), key=lambda v: int(v.split("-")[1]))
    extra = sorted(set(values) - want)
    assert not missing and not extra, (
        f"read {len(records)} of {count}: {len(missing)} missing (e.g. {missing[:5]}), "
        f"{len(extra)} unexpected (e.g. {extra[:5]})"
    )
    by_key: dict = {}
    for p, o, k, v in sorted(records, key=lambda r: (r[0], r[1])):
        i = int(v.split("-")[1])
        assert k == f"key-{i % keys}", f"{v} came back with key {k!r}"
        by_key.setdefault(k, []).append((p, i))
    for k, items in by_key.items():
        parts = {p for p, _ in items}
        assert len(parts) == 1, f"{k} spread over partitions {sorted(parts)}"
        seq = [i for _, i in items]
        assert seq == sorted(seq), f"{k}: order not kept within partition: {seq[:20]}..."
    if acks is not None:
        at = {(r[0], r[1]): r[3] for r in records}
        assert len(acks) == count, f"{len(acks)} delivery reports for {count} messages"
        for i, p, o in acks:
            assert at.get((p, o)) == f"value-{i}", (
                f"value-{i} was acknowledged at partition {p} offset {o}, "
                f"but that position holds {at.get((p, o))!r}"
            )


class RegistryBroker(Broker):
    """`fjord serve` whose embedded schema registry listens on a free port of
    its own (not the default 8081, which parallel brokers would share);
    start() returns once the registry answers."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.registry_port = free_port()

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.registry_port}"

    def registry_args(self) -> list[str]:
        return ["--registry-listen", f"127.0.0.1:{self.registry_port}"]

    def start(self) -> "RegistryBroker":
        import urllib.request

        super().start()
        deadline = time.monotonic() + self.START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{self.registry_url}/", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"registry on {self.registry_url} not ready")
            time.sleep(0.1)
