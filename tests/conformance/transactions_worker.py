"""A consume-transform-produce loop with exactly-once semantics on
confluent-kafka (librdkafka), run as its own process by
test_transactions_eos.py so the test can kill -9 it.

    python transactions_worker.py BOOTSTRAP INPUT OUTPUT GROUP TXN_ID
        [--batch N] [--pause-after-produce-ms MS]

It reads INPUT in group GROUP with isolation.level=read_committed and, per
batch, in one transaction: produces f(record) to OUTPUT (same key), sends the
consumer's positions with send_offsets_to_transaction and commits. A restart
with the same TXN_ID fences the previous incarnation and aborts its open
transaction; the consumer resumes from the offsets the last committed
transaction stored.

stdout carries one JSON object per line:
    {"ev": "ready"}                       after init_transactions
    {"ev": "produced", "n": N}            a batch is produced and flushed,
                                          its transaction still open
    {"ev": "committed", "total": N}       records committed by this process
    {"ev": "aborted", "error": ".."}      an abortable error; the batch is redone
    {"ev": "fatal", "error": ".."}        then the process exits with code 3
                                          (4: a librdkafka call hung, see below)
stdin: "stop" (or EOF) ends the loop after the current transaction.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time


def emit(ev: str, **fields) -> None:
    sys.stdout.write(json.dumps({"ev": ev, "t": time.time() * 1000, **fields}) + "\n")
    sys.stdout.flush()


def transform(value: bytes) -> bytes:
    """f(x): "v<i>" -> "v<i>:<i*i>", so each result names its input."""
    i = int(value.decode()[1:])
    return f"v{i}:{i * i}".encode()


def watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


SEND_OFFSETS_HANG_S = 45


def hung(call: str) -> None:
    emit("fatal", error=f"{call} still blocked after {SEND_OFFSETS_HANG_S} s (librdkafka#5456)")
    os._exit(4)


def commit(producer) -> None:
    """commit_transaction, retried while librdkafka calls the error
    retriable (a broker restarting): the outcome is then still undecided."""
    from confluent_kafka import KafkaException

    for attempt in range(10):
        try:
            producer.commit_transaction(30)
            return
        except KafkaException as e:
            if not e.args[0].retriable() or attempt == 9:
                raise
            time.sleep(1)


def main() -> int:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

    ap = argparse.ArgumentParser()
    for name in ("bootstrap", "input", "output", "group", "txn_id"):
        ap.add_argument(name)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--pause-after-produce-ms", type=int, default=0)
    a = ap.parse_args()

    stop = threading.Event()
    threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()

    consumer = Consumer({
        "bootstrap.servers": a.bootstrap,
        "group.id": a.group,
        # A restarted worker takes the old one's place at once instead of
        # waiting out its session.
        "group.instance.id": a.txn_id,
        "session.timeout.ms": 6000,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    producer = Producer({
        "bootstrap.servers": a.bootstrap,
        "transactional.id": a.txn_id,
        "transaction.timeout.ms": 20000,
        "linger.ms": 5,
        # librdkafka's transaction manager log on stderr, for diagnosis.
        **({"debug": os.environ["FJORD_TXN_DEBUG"]} if os.environ.get("FJORD_TXN_DEBUG") else {}),
    })
    try:
        producer.init_transactions(60)
    except KafkaException as e:
        emit("fatal", error=f"init_transactions: {e}")
        return 3
    emit("ready")
    consumer.subscribe([a.input])
    total = 0
    while not stop.is_set():
        msgs = consumer.consume(num_messages=a.batch, timeout=0.5)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            continue
        try:
            producer.begin_transaction()
            for m in msgs:
                producer.produce(a.output, key=m.key(), value=transform(m.value()))
            producer.flush(30)
            emit("produced", n=len(msgs))
            if a.pause_after_produce_ms:
                time.sleep(a.pause_after_produce_ms / 1000)
            # Partitions with nothing consumed yet have no position.
            positions = [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]
            # librdkafka 2.16 can hang here past the timeout when the group
            # coordinator's broker restarted (confluentinc/librdkafka#5456,
            # #5511: the cached coordinator is decommissioned and nothing
            # re-triggers the request). Exit as a crashed worker would; the
            # restarted instance fences this one, so exactly-once holds.
            watchdog = threading.Timer(SEND_OFFSETS_HANG_S, hung, ("send_offsets_to_transaction",))
            watchdog.start()
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
            watchdog.cancel()
            commit(producer)
            total += len(msgs)
            emit("committed", total=total)
        except KafkaException as e:
            err = e.args[0]
            if err.txn_requires_abort():
                emit("aborted", error=str(err))
                try:
                    producer.abort_transaction(30)
                except KafkaException as e2:
                    emit("fatal", error=f"abort_transaction: {e2}")
                    return 3
                # Redo the batch: back to the offsets the last commit stored.
                for tp in consumer.committed(consumer.assignment(), timeout=30):
                    if tp.offset < 0:
                        tp = TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING)
                    consumer.seek(tp)
                continue
            emit("fatal", error=str(err))
            return 3
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
