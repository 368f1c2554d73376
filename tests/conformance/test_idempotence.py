"""Idempotent producers through a proxy that loses produce responses.

The broker advertises the proxy's address, so clients keep going through it
after the first Metadata. Every few produce requests the proxy lets the broker
store the batch but drops the response and the connection; the client
retries the same batch (same producer id, epoch and sequence) and the broker
must recognise it as a duplicate. Afterwards the topic holds exactly the
records produced, once each, in order per key.
"""

import json
import subprocess

import pytest
from confluent_kafka import Producer

from helpers import check_seed001, create_topic, read_all
from proxy import CuttingProxy

COUNT = 2000


@pytest.fixture
def proxied(broker_factory):
    """(broker, proxy): the broker advertises the proxy's address."""
    b = broker_factory(start=False)
    proxy = CuttingProxy(b.port, cut_every=4, max_cuts=8).start()
    b.advertised = proxy.address
    b.start()
    yield b, proxy
    proxy.stop()


def rows(recs):
    return [[r.partition, r.offset, r.key.decode(), r.value.decode()] for r in recs]


def test_confluent_kafka_idempotent_retries(proxied, topic):
    broker, proxy = proxied
    create_topic(proxy.address, topic, 2)
    p = Producer({
        "bootstrap.servers": proxy.address,
        "enable.idempotence": True,
        # Many small produce requests, so the cuts land between them.
        "linger.ms": 1,
        "batch.num.messages": 50,
        "message.timeout.ms": 60000,
    })
    acks, errors = [], []

    def report(i):
        def cb(err, msg):
            if err is not None:
                errors.append(f"value-{i}: {err}")
            else:
                acks.append([i, msg.partition(), msg.offset()])
        return cb

    for i in range(COUNT):
        p.produce(topic, key=f"key-{i % 10}", value=f"value-{i}", on_delivery=report(i))
        p.poll(0)
        if i % 100 == 99:
            p.flush(30)  # keep the batches small and the run paced
    left = p.flush(90)
    assert left == 0, f"{left} undelivered after 90 s; errors: {errors[:5]}"
    assert not errors, f"{len(errors)} delivery errors, e.g. {errors[:5]}"
    assert proxy.cuts >= 3, f"proxy cut only {proxy.cuts} times: the test did not exercise retries"
    check_seed001(rows(read_all(proxy.address, topic, 2, expect=COUNT)), COUNT, sorted(acks))


def test_java_default_producer_retries(proxied, topic, java_classpath):
    broker, proxy = proxied
    create_topic(proxy.address, topic, 2)
    res = subprocess.run(["java", "-cp", java_classpath, "Conformance", "produce", proxy.address, topic, str(COUNT)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-6000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])["result"]
    assert "error" not in out, f"{out['error']}\njava stderr:\n{res.stderr[-4000:]}"
    assert proxy.cuts >= 3, f"proxy cut only {proxy.cuts} times: the test did not exercise retries"
    check_seed001(rows(read_all(proxy.address, topic, 2, expect=COUNT)), COUNT, out["acks"])
