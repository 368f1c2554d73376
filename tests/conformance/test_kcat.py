"""kcat (librdkafka from Debian): metadata listing, keyed produce with each
codec, consume from the beginning to the end."""

import json
import shutil
import subprocess

import pytest

from conftest import need
from helpers import check_seed001, create_topic

COUNT = 1000


def kcat(*args, stdin=None, timeout=60):
    res = subprocess.run(["kcat", *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"kcat {' '.join(args)} exited {res.returncode}:\n{res.stderr[-4000:]}"
    return res.stdout


@pytest.fixture(autouse=True)
def _kcat():
    need(shutil.which("kcat") is not None, "kcat not installed (apt-get install kcat)")


def test_metadata_lists_topic(broker, topic):
    create_topic(broker.bootstrap, topic, 2)
    md = json.loads(kcat("-b", broker.bootstrap, "-L", "-J", "-t", topic))
    assert [b["id"] for b in md["brokers"]], f"no brokers in metadata: {md}"
    (t,) = [t for t in md["topics"] if t["topic"] == topic]
    assert "error" not in t or not t["error"], t
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1]
    # Plain-text listing too, the way people use it.
    assert f'topic "{topic}" with 2 partitions' in kcat("-b", broker.bootstrap, "-L")


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_keyed(broker, topic, codec):
    create_topic(broker.bootstrap, topic, 2)
    lines = "".join(f"key-{i % 10}:value-{i}\n" for i in range(COUNT))
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-K:", "-z", codec, "-X", "acks=all", stdin=lines)
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-e", "-o", "beginning", "-q",
               "-f", "%p\t%o\t%k\t%s\n")
    rows = []
    for line in out.splitlines():
        p, o, k, v = line.split("\t")
        rows.append([int(p), int(o), k, v])
    check_seed001(rows, COUNT)


def test_autocreate_on_produce(broker, topic):
    # Metadata auto-creation is on by default, as in Kafka.
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-K:", stdin="a:1\nb:2\n")
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-e", "-o", "beginning", "-q", "-f", "%k=%s\n")
    assert sorted(out.split()) == ["a=1", "b=2"]
