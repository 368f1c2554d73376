"""One consumer-group member as its own process, driven by test_groups.py.

    python groups_worker.py CLIENT BOOTSTRAP TOPIC GROUP [options]

CLIENT is kafka-python or confluent (tests/java/GroupConformance.java speaks
the same protocol for the Java client). Each member is a process so that a
test can SIGKILL it: the coordinator then sees a member vanish without a
LeaveGroup.

stdout carries one JSON object per line, each with "t" (wall-clock ms, so
lines of several processes can be put in order):
    {"ev": "assign", "parts": [..]}    partitions added by a rebalance
    {"ev": "revoke", "parts": [..]}    partitions taken away (or lost)
    {"ev": "recs", "recs": [[p, o], ..]}  records handed to the application
    {"ev": "committed", "offsets": {"p": o}}  a manual commit that succeeded
    {"ev": "commit_failed", "error": ".."}
    {"ev": "closed"}
stdin: a line "stop" closes the consumer cleanly (commit, LeaveGroup unless
static) and exits.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time


def emit(ev: str, **fields) -> None:
    sys.stdout.write(json.dumps({"ev": ev, "t": time.time() * 1000, **fields}) + "\n")
    sys.stdout.flush()


def watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()  # "stop", or the test went away (EOF)


def run_kafka_python(a, stop: threading.Event) -> None:
    from kafka import KafkaConsumer, ConsumerRebalanceListener, TopicPartition
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.structs import OffsetAndMetadata

    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            emit("revoke", parts=sorted(tp.partition for tp in revoked))

        def on_partitions_assigned(self, assigned):
            emit("assign", parts=sorted(tp.partition for tp in assigned))

    conf = dict(
        bootstrap_servers=a.bootstrap, group_id=a.group, client_id=a.client_id,
        enable_auto_commit=a.commit == "auto", auto_offset_reset=a.reset,
        partition_assignment_strategy=[assignors[a.assignor or "range"]],
    )
    if a.session_ms:
        conf.update(session_timeout_ms=a.session_ms, heartbeat_interval_ms=a.session_ms // 6)
    if a.instance_id:
        conf["group_instance_id"] = a.instance_id
    c = KafkaConsumer(**conf)
    c.subscribe([a.topic], listener=Listener())
    while not stop.is_set():
        batch = c.poll(timeout_ms=200)
        recs = [(tp.partition, r.offset) for tp, rs in batch.items() for r in rs]
        if not recs:
            continue
        emit("recs", recs=recs)
        if a.commit == "manual":
            upto = {}
            for p, o in recs:
                upto[p] = max(upto.get(p, -1), o + 1)
            try:
                # (offset, metadata[, leader_epoch]): the epoch came with kafka-python 2.1.
                extra = ("", -1) if len(OffsetAndMetadata._fields) == 3 else ("",)
                c.commit({TopicPartition(a.topic, p): OffsetAndMetadata(o, *extra) for p, o in upto.items()})
                emit("committed", offsets={str(p): o for p, o in upto.items()})
            except Exception as e:  # a rebalance in between: redelivered later
                emit("commit_failed", error=repr(e))
    c.close()  # auto commit: commits what was consumed


def run_confluent(a, stop: threading.Event) -> None:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    conf = {
        "bootstrap.servers": a.bootstrap, "group.id": a.group, "client.id": a.client_id,
        "enable.auto.commit": a.commit == "auto", "auto.offset.reset": a.reset,
        "partition.assignment.strategy": a.assignor or "range",
    }
    if a.session_ms:
        conf.update({"session.timeout.ms": a.session_ms, "heartbeat.interval.ms": a.session_ms // 6})
    if a.instance_id:
        conf["group.instance.id"] = a.instance_id
    c = Consumer(conf)

    def on_assign(consumer, parts):
        emit("assign", parts=sorted(tp.partition for tp in parts))

    def on_revoke(consumer, parts):
        emit("revoke", parts=sorted(tp.partition for tp in parts))

    c.subscribe([a.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    while not stop.is_set():
        msgs = c.consume(500, timeout=0.2)
        recs = []
        for m in msgs:
            if m.error():
                emit("error", error=str(m.error()))
                continue
            recs.append((m.partition(), m.offset()))
        if not recs:
            continue
        emit("recs", recs=recs)
        if a.commit == "manual":
            upto = {}
            for p, o in recs:
                upto[p] = max(upto.get(p, -1), o + 1)
            try:
                c.commit(offsets=[TopicPartition(a.topic, p, o) for p, o in upto.items()], asynchronous=False)
                emit("committed", offsets={str(p): o for p, o in upto.items()})
            except KafkaException as e:
                emit("commit_failed", error=str(e))
    c.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("client", choices=["kafka-python", "confluent"])
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("group")
    ap.add_argument("--commit", choices=["auto", "manual"], default="manual")
    ap.add_argument("--reset", choices=["earliest", "latest"], default="earliest")
    ap.add_argument("--session-ms", type=int, default=0, help="0: the client's default")
    ap.add_argument("--assignor", default="")
    ap.add_argument("--instance-id", default="")
    ap.add_argument("--client-id", default="fjord-groups-worker")
    a = ap.parse_args()
    stop = threading.Event()
    threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    (run_kafka_python if a.client == "kafka-python" else run_confluent)(a, stop)
    emit("closed")


if __name__ == "__main__":
    main()
