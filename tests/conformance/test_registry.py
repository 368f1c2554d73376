"""confluent-kafka's schema registry client and serializers against Fjord's
registry, unchanged: Avro, JSON Schema and Protobuf values produced with the
serializer and consumed with the deserializer; ids kept across restarts;
unknown subjects, bad versions and invalid schemas answered with Confluent's
error codes.
"""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from helpers import RegistryBroker, create_topic, read_all

BID_AVRO = json.dumps({
    "type": "record", "name": "Bid", "namespace": "auction",
    "fields": [
        {"name": "item", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "price", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
})
BID_JSON = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Bid", "type": "object",
    "properties": {"item": {"type": "string"}, "name": {"type": "string"}, "price": {"type": "number"}},
    "required": ["item", "price"],
})
BIDS = [
    {"item": "lamp", "name": "alice", "price": 12.5, "note": None},
    {"item": "chair", "name": "bob", "price": 40.0, "note": "mint condition"},
    {"item": "lamp", "name": "carol", "price": 13.0, "note": None},
]


@pytest.fixture
def reg(tmp_path):
    b = RegistryBroker(tmp_path / "data", tmp_path / "broker.log")
    b.start()
    yield b
    if b.alive():
        b.stop(clean=True)


def client(b: RegistryBroker) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": b.registry_url})


def produce_all(bootstrap: str, topic: str, values: list[bytes]) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for v in values:
        p.produce(topic, value=v)
    assert p.flush(30) == 0


def round_trip(b: RegistryBroker, serializer, deserializer, objs, topic: str) -> list:
    create_topic(b.bootstrap, topic, 1)
    ctx = SerializationContext(topic, MessageField.VALUE)
    produce_all(b.bootstrap, topic, [serializer(o, ctx) for o in objs])
    recs = read_all(b.bootstrap, topic, 1, expect=len(objs))
    assert len(recs) == len(objs)
    for r in recs:
        assert r.value[0] == 0, "Confluent wire format: magic byte 0"
    return [deserializer(r.value, ctx) for r in recs]


def test_avro_serializer_round_trip(reg):
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

    c = client(reg)
    topic = f"bids-{uuid.uuid4().hex[:8]}"
    ser = AvroSerializer(c, BID_AVRO)
    de = AvroDeserializer(c)
    assert round_trip(reg, ser, de, BIDS, topic) == BIDS
    latest = c.get_latest_version(f"{topic}-value")
    assert latest.version == 1 and latest.schema.schema_type == "AVRO"
    # The id in the wire format is the registered one.
    assert c.get_schema(latest.schema_id).schema_str
    # Registering the same schema again (another subject too) keeps the id.
    assert c.register_schema(f"{topic}-value", Schema(BID_AVRO, "AVRO")) == latest.schema_id
    assert c.register_schema("other-value", Schema(BID_AVRO, "AVRO")) == latest.schema_id
    assert sorted(c.get_subjects()) == sorted([f"{topic}-value", "other-value"])
    assert c.get_versions(f"{topic}-value") == [1]
    found = c.lookup_schema(f"{topic}-value", Schema(BID_AVRO, "AVRO"))
    assert (found.schema_id, found.version) == (latest.schema_id, 1)


def test_json_schema_serializer_round_trip(reg):
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer

    c = client(reg)
    topic = f"jbids-{uuid.uuid4().hex[:8]}"
    objs = [{k: v for k, v in b.items() if k != "note"} for b in BIDS]
    ser = JSONSerializer(BID_JSON, c)
    de = JSONDeserializer(None, schema_registry_client=c)
    assert round_trip(reg, ser, de, objs, topic) == objs
    latest = c.get_latest_version(f"{topic}-value")
    assert latest.schema.schema_type == "JSON"
    # The serializer validates: a bid without a price is refused client-side.
    with pytest.raises(Exception):
        ser({"item": "x"}, SerializationContext(topic, MessageField.VALUE))


def bid_message_class():
    """A Protobuf message class built at run time (protoc is not installed)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="auction/bid.proto", package="auction", syntax="proto3")
    m = fdp.message_type.add(name="Bid")
    F = descriptor_pb2.FieldDescriptorProto
    for n, (name, kind) in enumerate([("item", F.TYPE_STRING), ("name", F.TYPE_STRING), ("price", F.TYPE_DOUBLE)], 1):
        m.field.add(name=name, number=n, type=kind, label=F.LABEL_OPTIONAL)
    # A second message, so the serializer's message indexes are not trivial.
    m2 = fdp.message_type.add(name="Outbid")
    m2.field.add(name="item", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("auction.Bid")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("auction.Outbid")))


def test_protobuf_serializer_round_trip(reg):
    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer

    Bid, Outbid = bid_message_class()
    c = client(reg)
    topic = f"pbids-{uuid.uuid4().hex[:8]}"
    conf = {"use.deprecated.format": False}
    objs = [Bid(item=b["item"], name=b["name"], price=b["price"]) for b in BIDS]
    got = round_trip(reg, ProtobufSerializer(Bid, c, conf), ProtobufDeserializer(Bid, conf), objs, topic)
    assert got == objs
    # The second message of the file: message index [1] on the wire.
    topic2 = f"outbid-{uuid.uuid4().hex[:8]}"
    o = [Outbid(item="lamp")]
    assert round_trip(reg, ProtobufSerializer(Outbid, c, conf), ProtobufDeserializer(Outbid, conf), o, topic2) == o
    latest = c.get_latest_version(f"{topic}-value")
    assert latest.schema.schema_type == "PROTOBUF"
    # The stored text is .proto; the serialized form is the descriptor again.
    assert "message Bid" in latest.schema.schema_str
    import urllib.request
    with urllib.request.urlopen(f"{reg.registry_url}/schemas/ids/{latest.schema_id}?format=serialized") as r:
        serialized = json.load(r)["schema"]
    import base64
    from google.protobuf import descriptor_pb2
    fdp = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(serialized))
    assert [m.name for m in fdp.message_type] == ["Bid", "Outbid"]


def error_code(fn) -> int:
    with pytest.raises(SchemaRegistryError) as e:
        fn()
    return e.value.error_code


def test_errors_have_confluent_codes(reg):
    c = client(reg)
    assert error_code(lambda: c.get_latest_version("nope-value")) == 40401
    assert error_code(lambda: c.get_versions("nope-value")) == 40401
    sid = c.register_schema("e-value", Schema('"string"', "AVRO"))
    assert error_code(lambda: c.get_version("e-value", 42)) == 40402
    assert error_code(lambda: c.get_schema(sid + 1000)) == 40403
    assert error_code(lambda: c.lookup_schema("e-value", Schema('"int"', "AVRO"))) == 40403
    for kind, text in [
        ("AVRO", '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nosuchtype"}]}'),
        ("AVRO", "{not json"),
        ("JSON", '{"type": "nosuchtype"}'),
        ("JSON", "[1, 2"),
        ("PROTOBUF", 'syntax = "proto3"; message X { nosuchtype a = 1; }'),
        ("PROTOBUF", "message {"),
    ]:
        assert error_code(lambda: c.register_schema("bad-value", Schema(text, kind))) == 42201, (kind, text)
    assert error_code(lambda: c.set_compatibility("e-value", "SOMETIMES")) == 42203
    assert error_code(lambda: c.delete_version("e-value", 5)) == 40402
    assert c.delete_subject("e-value") == [1]
    assert error_code(lambda: c.delete_subject("e-value")) == 40404
    assert c.delete_subject("e-value", permanent=True) == [1]
    assert error_code(lambda: c.delete_subject("e-value", permanent=True)) == 40401


def test_ids_survive_restarts(reg):
    c = client(reg)
    ids = {
        "a-value": c.register_schema("a-value", Schema(BID_AVRO, "AVRO")),
        "j-value": c.register_schema("j-value", Schema(BID_JSON, "JSON")),
        "p-value": c.register_schema(
            "p-value", Schema('syntax = "proto3";\npackage t;\nmessage P { string a = 1; }\n', "PROTOBUF")),
    }
    assert sorted(ids.values()) == [1, 2, 3]
    for clean in (True, False):
        reg.restart(clean=clean)
        c = client(reg)  # a fresh client: no cached ids
        for subject, sid in ids.items():
            assert c.get_latest_version(subject).schema_id == sid
            schema = c.get_schema(sid)
            assert c.register_schema(subject, schema) == sid
        assert c.register_schema("new-value", Schema('"string"', "AVRO")) == 4
