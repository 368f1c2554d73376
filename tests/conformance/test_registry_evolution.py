"""Schema evolution through Fjord's REST API, table-driven per format and
compatibility level: each change (add a field with a default, add one
without, remove one, change a type, rename) is registered as version 2 of a
fresh subject after the base schema, and must be accepted, or refused with
409 and the Confluent error type named in the table.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from helpers import RegistryBroker

CT = "application/vnd.schemaregistry.v1+json"


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict | list]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": CT})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.headers["Content-Type"] == CT
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        assert e.headers["Content-Type"] == CT
        return e.code, json.load(e)


def avro(*fields) -> str:
    return json.dumps({"type": "record", "name": "Bid", "fields": list(fields)})


def jsch(props: dict, required=(), closed=True) -> str:
    s = {"type": "object", "properties": props, "required": list(required)}
    if closed:
        s["additionalProperties"] = False
    return json.dumps(s)


def proto(body: str) -> str:
    return f'syntax = "proto3";\npackage auction;\nmessage Bid {{\n{body}\n}}\n'


ITEM = {"name": "item", "type": "string"}
PRICE = {"name": "price", "type": "double"}
AVRO_BASE = avro(ITEM, PRICE)
JSON_BASE = jsch({"item": {"type": "string"}, "price": {"type": "number"}}, required=["item"])
PROTO_BASE = proto("  string item = 1;\n  double price = 2;")

OK = None
MISSING_DEFAULT = "READER_FIELD_MISSING_DEFAULT_VALUE"

# (format, change, new schema, expected per level: None accepts, else the
# error type a 409 names).
CASES = [
    ("AVRO", "add field with default", avro(ITEM, PRICE, {"name": "qty", "type": "int", "default": 1}),
     {"BACKWARD": OK, "FORWARD": OK, "FULL": OK, "NONE": OK}),
    ("AVRO", "add field without default", avro(ITEM, PRICE, {"name": "qty", "type": "int"}),
     {"BACKWARD": MISSING_DEFAULT, "FORWARD": OK, "FULL": MISSING_DEFAULT, "NONE": OK}),
    ("AVRO", "remove field", avro(ITEM),
     {"BACKWARD": OK, "FORWARD": MISSING_DEFAULT, "FULL": MISSING_DEFAULT, "NONE": OK}),
    ("AVRO", "change type", avro(ITEM, {"name": "price", "type": "string"}),
     {"BACKWARD": "TYPE_MISMATCH", "FORWARD": "TYPE_MISMATCH", "FULL": "TYPE_MISMATCH", "NONE": OK}),
    ("AVRO", "rename without alias", avro(ITEM, {"name": "amount", "type": "double"}),
     {"BACKWARD": MISSING_DEFAULT, "FORWARD": MISSING_DEFAULT, "FULL": MISSING_DEFAULT, "NONE": OK}),
    ("AVRO", "rename with alias", avro(ITEM, {"name": "amount", "type": "double", "aliases": ["price"]}),
     {"BACKWARD": OK, "NONE": OK}),
    ("JSON", "add optional property", jsch({"item": {"type": "string"}, "price": {"type": "number"},
                                            "qty": {"type": "integer"}}, required=["item"]),
     {"BACKWARD": OK, "FORWARD": "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "NONE": OK}),
    ("JSON", "add required property", jsch({"item": {"type": "string"}, "price": {"type": "number"},
                                            "qty": {"type": "integer"}}, required=["item", "qty"]),
     {"BACKWARD": "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", "NONE": OK}),
    ("JSON", "remove property", jsch({"item": {"type": "string"}}, required=["item"]),
     {"BACKWARD": "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "FORWARD": OK, "NONE": OK}),
    ("JSON", "change type", jsch({"item": {"type": "string"}, "price": {"type": "string"}}, required=["item"]),
     {"BACKWARD": "TYPE_CHANGED", "FORWARD": "TYPE_CHANGED", "FULL": "TYPE_CHANGED", "NONE": OK}),
    ("PROTOBUF", "add field", proto("  string item = 1;\n  double price = 2;\n  int32 qty = 3;"),
     {"BACKWARD": OK, "FORWARD": OK, "FULL": OK, "NONE": OK}),
    ("PROTOBUF", "change scalar type", proto("  string item = 1;\n  string price = 2;"),
     {"BACKWARD": "FIELD_SCALAR_KIND_CHANGED", "FULL": "FIELD_SCALAR_KIND_CHANGED", "NONE": OK}),
    ("PROTOBUF", "rename field (same number)", proto("  string item = 1;\n  double amount = 2;"),
     {"BACKWARD": OK, "FULL": OK, "NONE": OK}),
    ("PROTOBUF", "rename message", 'syntax = "proto3";\npackage auction;\nmessage Offer {\n  string item = 1;\n  double price = 2;\n}\n',
     {"BACKWARD": "MESSAGE_REMOVED", "NONE": OK}),
]

BASES = {"AVRO": AVRO_BASE, "JSON": JSON_BASE, "PROTOBUF": PROTO_BASE}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    d = tmp_path_factory.mktemp("evolution")
    b = RegistryBroker(d / "data", d / "broker.log")
    b.start()
    yield b.registry_url
    b.stop(clean=True)


@pytest.mark.parametrize(
    "fmt,change,new,level,expected",
    [(f, c, n, lvl, exp) for (f, c, n, per) in CASES for lvl, exp in per.items()],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_evolution(registry, fmt, change, new, level, expected):
    subject = f"evo-{uuid.uuid4().hex[:10]}"
    base = BASES[fmt]
    assert http("PUT", f"{registry}/config/{subject}", {"compatibility": level}) == (200, {"compatibility": level})
    code, body = http("POST", f"{registry}/subjects/{subject}/versions", {"schema": base, "schemaType": fmt})
    assert code == 200, body
    # The compatibility endpoint and the registration agree.
    code, check = http("POST", f"{registry}/compatibility/subjects/{subject}/versions/latest?verbose=true",
                       {"schema": new, "schemaType": fmt})
    assert code == 200, check
    code, body = http("POST", f"{registry}/subjects/{subject}/versions", {"schema": new, "schemaType": fmt})
    if expected is None:
        assert code == 200 and "id" in body, body
        assert check["is_compatible"] is True, check
        assert http("GET", f"{registry}/subjects/{subject}/versions")[1] == [1, 2]
    else:
        assert code == 409, body
        assert body["error_code"] == 409
        assert expected in body["message"], body["message"]
        assert check["is_compatible"] is False
        assert any(expected in m for m in check["messages"]), check["messages"]
        assert http("GET", f"{registry}/subjects/{subject}/versions")[1] == [1]
