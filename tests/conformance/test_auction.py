"""The auction system with real clients it did not write: bids placed
through the website's JSON API are read back from the topic `bids` with
confluent-kafka (keyed by item, one partition per item, every bid once), and
both consumer groups' committed offsets, read with confluent-kafka's admin
client, reach the end of the topic; `fjord auction backup verify` then finds
the topic, the backup file and the table in agreement."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from auction_api import ITEMS, post
from helpers import fjord_bin, free_port, read_all, wait_for_port

@pytest.fixture
def auction(broker, tmp_path):
    env = dict(os.environ, FJORD_BOOTSTRAP_SERVERS=broker.bootstrap)
    port = free_port()
    data = ["--data-dir", str(tmp_path / "auction")]
    procs = []

    def start(name, *args):
        log = open(tmp_path / f"{name}.log", "wb")
        procs.append(subprocess.Popen([str(fjord_bin()), "auction", *args, *data], env=env,
                                      stdout=subprocess.DEVNULL, stderr=log))

    start("web", "web", "--http-listen", f"127.0.0.1:{port}")
    wait_for_port(port, 30, procs[0])
    start("db-writers", "db-writer", "--instances", "2")
    start("backup", "backup-writer")
    yield f"http://127.0.0.1:{port}", env, data
    for p in procs:
        p.kill()
        p.wait()


def group_offsets(bootstrap: str, group: str) -> dict[int, int]:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    req = ConsumerGroupTopicPartitions(group, [TopicPartition("bids", p) for p in range(4)])
    result = admin.list_consumer_group_offsets([req])[group].result(timeout=30)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def test_bids_through_the_api_reach_the_topic_once_and_both_groups_finish(broker, auction):
    base, env, data = auction
    ids = {}
    for n in range(80):
        item = ITEMS[n % 4]
        status, body = post(base, {"item": item, "name": f"py-{n % 5}", "price": 1000 + n})
        assert status == 201, body
        assert body["status"] == "bid added"
        ids[body["bid"]["id"]] = item
    # Refused bids go nowhere.
    for bad, code in [({"item": ITEMS[0], "name": "", "price": 5000}, "empty_name"),
                      ({"item": ITEMS[0], "name": "x", "price": "ten"}, "price_not_number"),
                      ({"item": ITEMS[0], "name": "x", "price": 1}, "not_above_highest"),
                      ({"item": "nope", "name": "x", "price": 5000}, "unknown_item")]:
        status, body = post(base, bad)
        assert (status, body["code"]) == (400, code), body

    recs = read_all(broker.bootstrap, "bids", 4, expect=80)
    assert len(recs) == 80
    partition_of = {}
    for r in recs:
        bid = json.loads(r.value)
        assert r.key.decode() == bid["item"] == ids.pop(bid["id"])
        assert partition_of.setdefault(bid["item"], r.partition) == r.partition, "an item spans partitions"
    assert not ids, f"bids missing from the topic: {ids}"

    ends = {}
    for r in recs:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    deadline = time.monotonic() + 90
    for group in ("bid-db-writers", "bid-backup"):
        while True:
            got = group_offsets(broker.bootstrap, group)
            if all(got.get(p, -1) == end for p, end in ends.items()):
                break
            assert time.monotonic() < deadline, f"{group} stuck at {got}, end {ends}"
            time.sleep(0.5)

    out = subprocess.run([str(fjord_bin()), "auction", "backup", "verify", *data], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "80 lines" in out.stdout and "80 records" in out.stdout and "80 rows" in out.stdout, out.stdout
