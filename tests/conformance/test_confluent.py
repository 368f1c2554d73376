"""confluent-kafka (librdkafka): the seed 001 pattern with a topic created
through AdminClient, every compression codec, and acks 0, 1 and all."""

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import check_seed001, read_all

COUNT = 1000


def produce_seed001(bootstrap, topic, count=COUNT, **conf):
    p = Producer({"bootstrap.servers": bootstrap, **conf})
    acks, errors = [], []

    def report(i):
        def cb(err, msg):
            if err is not None:
                errors.append(f"value-{i}: {err}")
            else:
                acks.append([i, msg.partition(), msg.offset()])
        return cb

    for i in range(count):
        while True:
            try:
                p.produce(topic, key=f"key-{i % 10}", value=f"value-{i}", on_delivery=report(i))
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(60)
    assert left == 0, f"{left} messages still undelivered after 60 s; errors so far: {errors[:5]}"
    assert not errors, f"{len(errors)} delivery errors, e.g. {errors[:5]}"
    return sorted(acks)


def create_two_partitions(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)],
                        request_timeout=30)[topic].result(timeout=30)
    md = admin.list_topics(topic, timeout=30)
    assert md.topics[topic].error is None, md.topics[topic].error
    assert sorted(md.topics[topic].partitions) == [0, 1]


def as_rows(recs):
    return [[r.partition, r.offset, r.key.decode() if r.key is not None else None,
             r.value.decode() if r.value is not None else None] for r in recs]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_seed001_compression(broker, topic, codec):
    create_two_partitions(broker.bootstrap, topic)
    acks = produce_seed001(broker.bootstrap, topic, **{"compression.type": codec})
    check_seed001(as_rows(read_all(broker.bootstrap, topic, 2, expect=COUNT)), COUNT, acks)


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_seed001_acks(broker, topic, acks):
    create_two_partitions(broker.bootstrap, topic)
    conf = {"acks": acks}
    if acks == "0":
        # With acks=0 the broker sends nothing back, so librdkafka reports
        # every message delivered without an offset; compare contents only.
        conf["enable.idempotence"] = False
    reports = produce_seed001(broker.bootstrap, topic, **conf)
    recs = as_rows(read_all(broker.bootstrap, topic, 2, expect=COUNT))
    check_seed001(recs, COUNT, reports if acks != "0" else None)
