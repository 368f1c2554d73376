"""Fjord's Rust serde API (through `fjord schema encode|decode`) against
confluent-kafka's own serializers, both ways, on the registry that
`fjord serve` embeds; and broker-side schema validation seen by a real
producer (confluent-kafka): framed values with a registered id go in,
anything else is refused with INVALID_RECORD.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import need
from helpers import RegistryBroker, create_topic, fjord_bin, read_all

BID_SCHEMA = json.dumps({
    "type": "record", "name": "Bid", "namespace": "auction",
    "fields": [
        {"name": "item", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "price", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
})
BIDS = [
    {"item": "lamp", "name": "alice", "price": 12.5, "note": None},
    {"item": "chair", "name": "bob", "price": 40.0, "note": "mint condition"},
]
JSON_SCHEMA = json.dumps({
    "type": "object",
    "properties": {"item": {"type": "string"}, "price": {"type": "number"}},
    "required": ["item", "price"],
})


@pytest.fixture
def rb(fjord, tmp_path):
    need(_have_serde_deps(), "confluent-kafka's schema registry extras (fastavro, httpx, attrs, cachetools, authlib, jsonschema)")
    b = RegistryBroker(tmp_path / "data", tmp_path / "broker.log").start()
    yield b
    b.stop(clean=True)


def _have_serde_deps() -> bool:
    try:
        import fastavro  # noqa: F401
        import jsonschema  # noqa: F401
        from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: F401
        from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: F401
        return True
    except ImportError:
        return False


def fjord_schema(registry: str, *args: str, stdin: str = "") -> str:
    r = subprocess.run([str(fjord_bin()), "schema", "--registry", registry, *args],
                       input=stdin, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"fjord schema {' '.join(args)}: {r.stderr}"
    return r.stdout


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_avro_rust_serializer_to_confluent_deserializer(rb, tmp_path, topic):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    schema = write(tmp_path, "bid.avsc", BID_SCHEMA)
    hexes = fjord_schema(rb.registry_url, "encode", f"{topic}-value", "--file", schema,
                         stdin="".join(json.dumps(b) + "\n" for b in BIDS)).split()
    assert len(hexes) == 2
    data = [bytes.fromhex(h) for h in hexes]
    assert all(d[0] == 0 for d in data), "magic byte 0"
    deser = AvroDeserializer(SchemaRegistryClient({"url": rb.registry_url}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    assert [deser(d, ctx) for d in data] == BIDS


def test_avro_confluent_serializer_to_rust_deserializer(rb, tmp_path, topic):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    ser = AvroSerializer(SchemaRegistryClient({"url": rb.registry_url}), BID_SCHEMA)
    ctx = SerializationContext(topic, MessageField.VALUE)
    hexes = "".join(ser(b, ctx).hex() + "\n" for b in BIDS)
    out = fjord_schema(rb.registry_url, "decode", stdin=hexes)
    assert [json.loads(line) for line in out.splitlines()] == BIDS
    # Registered under TopicNameStrategy's subject, seen by `fjord schema list`.
    assert f"{topic}-value" in fjord_schema(rb.registry_url, "list").split()


def test_json_schema_both_ways(rb, tmp_path, topic):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = SchemaRegistryClient({"url": rb.registry_url})
    ctx = SerializationContext(topic, MessageField.VALUE)
    value = {"item": "lamp", "price": 12.5}
    # Rust -> confluent.
    schema = write(tmp_path, "bid.json", JSON_SCHEMA)
    (h,) = fjord_schema(rb.registry_url, "encode", f"{topic}-value", "--file", schema,
                        stdin=json.dumps(value) + "\n").split()
    assert JSONDeserializer(JSON_SCHEMA, schema_registry_client=client)(bytes.fromhex(h), ctx) == value
    # confluent -> Rust.
    data = JSONSerializer(JSON_SCHEMA, client)(value, ctx)
    assert json.loads(fjord_schema(rb.registry_url, "decode", stdin=data.hex() + "\n")) == value


def test_broker_validation_with_a_real_producer(rb, tmp_path, topic):
    from confluent_kafka import KafkaError, Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    create_topic(rb.bootstrap, topic, 1, {"confluent.value.schema.validation": "true"})
    ser = AvroSerializer(SchemaRegistryClient({"url": rb.registry_url}), BID_SCHEMA)
    good = ser(BIDS[0], SerializationContext(topic, MessageField.VALUE))
    unregistered = b"\x00\x00\x00\x03\xe7" + good[5:]  # id 999
    results: dict[bytes, object] = {}

    p = Producer({"bootstrap.servers": rb.bootstrap, "message.send.max.retries": 0,
                  "enable.idempotence": False, "linger.ms": 0})
    for v in (good, b"plain bytes", unregistered):
        p.produce(topic, v, on_delivery=lambda err, msg, v=v: results.__setitem__(v, err))
        p.flush(30)
    assert results[good] is None
    for bad in (b"plain bytes", unregistered):
        err = results[bad]
        assert err is not None and err.code() == KafkaError.INVALID_RECORD, err
    recs = read_all(rb.bootstrap, topic, 1, expect=1)
    assert [r.value for r in recs] == [good]
