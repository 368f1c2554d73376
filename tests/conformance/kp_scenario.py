"""The seed 001 pattern with kafka-python, runnable under any kafka-python
from 1.4 to 3.x (each lives in its own venv, so this runs as a subprocess):

  create a 2-partition topic through KafkaAdminClient, produce COUNT keyed
  messages (key-0..key-9) with the client's default settings, then read the
  topic from the earliest offset with manual assignment (no consumer group).

Prints one JSON object on stdout; the pytest side asserts on it.
"""

import argparse
import json
import sys
import time
import traceback


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--compression", default="none")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()

    import logging

    # Client warnings and our progress go to stderr; pytest shows its tail.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def stage(name):
        out["stage"] = name
        print("kp_scenario: stage %s" % name, file=sys.stderr, flush=True)

    import kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    out = {"kafka_python": kafka.__version__, "stage": "", "acks": [], "records": []}
    try:
        stage("admin")
        admin = KafkaAdminClient(bootstrap_servers=a.bootstrap, client_id="kp-admin",
                                 request_timeout_ms=30000)
        admin.create_topics([NewTopic(a.topic, num_partitions=2, replication_factor=1)])
        admin.close()

        stage("produce")
        kw = {} if a.compression == "none" else {"compression_type": a.compression}
        producer = KafkaProducer(bootstrap_servers=a.bootstrap, client_id="kp-producer", **kw)
        futures = []
        for i in range(a.count):
            key = "key-%d" % (i % 10)
            futures.append(producer.send(a.topic, key=key.encode(), value=("value-%d" % i).encode()))
        producer.flush(timeout=a.timeout)
        for i, f in enumerate(futures):
            md = f.get(timeout=a.timeout)
            out["acks"].append([i, md.partition, md.offset])
        producer.close(timeout=10)

        stage("consume")
        consumer = KafkaConsumer(bootstrap_servers=a.bootstrap, group_id=None, client_id="kp-consumer",
                                 enable_auto_commit=False, auto_offset_reset="earliest")
        parts = None
        deadline = time.monotonic() + a.timeout
        while not parts and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(a.topic)
            if not parts:
                time.sleep(0.2)
        out["partitions"] = sorted(parts or [])
        tps = [TopicPartition(a.topic, p) for p in sorted(parts or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        while len(out["records"]) < a.count and time.monotonic() < deadline:
            for tp, msgs in consumer.poll(timeout_ms=500).items():
                for m in msgs:
                    out["records"].append([m.partition, m.offset, m.key.decode() if m.key is not None else None,
                                           m.value.decode() if m.value is not None else None])
        # One more short poll: anything beyond COUNT would be a duplicate.
        for tp, msgs in consumer.poll(timeout_ms=500).items():
            for m in msgs:
                out["records"].append([m.partition, m.offset, m.key.decode(), m.value.decode()])
        consumer.close()
        stage("done")
    except Exception as e:  # reported to pytest with the stage it happened in
        out["error"] = "%s: %s" % (type(e).__name__, e)
        out["traceback"] = traceback.format_exc()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
