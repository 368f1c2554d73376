"""A clean restart (SIGINT, then SIGTERM) keeps topics, partition counts,
topic configs and data."""

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from helpers import read_all

TOPICS = {
    # name suffix: (partitions, configs)
    "a": (1, {"retention.ms": "86400000"}),
    "b": (3, {"retention.ms": "3600000", "segment.bytes": "1048576", "max.message.bytes": "500000"}),
}
COUNT = 300


def describe(admin, name):
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    entries = admin.describe_configs([res], request_timeout=30)[res].result(timeout=30)
    return {k: v.value for k, v in entries.items()}


def snapshot(bootstrap, names):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(timeout=30)
    out = {}
    for name in names:
        assert name in md.topics, f"topic {name} missing; broker lists {sorted(md.topics)}"
        parts = len(md.topics[name].partitions)
        recs = read_all(bootstrap, name, parts, expect=COUNT)
        out[name] = {
            "partitions": parts,
            "configs": describe(admin, name),
            "data": sorted((r.partition, r.offset, r.key, r.value) for r in recs),
        }
    return out


@pytest.mark.parametrize("how", ["sigint", "sigterm"])
def test_clean_restart_keeps_topics_configs_data(broker, topic, how):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    names = {f"{topic}-{s}": spec for s, spec in TOPICS.items()}
    futs = admin.create_topics([NewTopic(n, num_partitions=p, replication_factor=1, config=c)
                                for n, (p, c) in names.items()], request_timeout=30)
    for f in futs.values():
        f.result(timeout=30)

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for name in names:
        for i in range(COUNT):
            p.produce(name, key=f"k{i % 13}", value=f"{name}-{i}")
    assert p.flush(60) == 0

    before = snapshot(broker.bootstrap, names)
    for name, (parts, configs) in names.items():
        assert before[name]["partitions"] == parts
        assert len(before[name]["data"]) == COUNT
        for k, v in configs.items():
            assert before[name]["configs"].get(k) == v, f"{name}: {k} = {before[name]['configs'].get(k)!r}, set {v!r}"

    code = broker.stop(clean=True) if how == "sigint" else broker.terminate()
    assert code == 0, f"broker exited with {code} on {how}"
    broker.start()
    after = snapshot(broker.bootstrap, names)
    for name in names:
        assert after[name]["partitions"] == before[name]["partitions"], name
        assert after[name]["configs"] == before[name]["configs"], name
        assert after[name]["data"] == before[name]["data"], f"{name}: data differs after restart"

    # And the log is appendable after the restart, at the next offset.
    name = next(iter(names))
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    got = []
    p.produce(name, value=b"after-restart", on_delivery=lambda e, m: got.append((e, m.offset())))
    assert p.flush(30) == 0
    assert got and got[0][0] is None, got
    assert got[0][1] == COUNT, f"first offset after restart is {got[0][1]}, want {COUNT}"
