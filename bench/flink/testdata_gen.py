#!/usr/bin/env python3
"""Small Nexmark test data for the Flink jobs, and a checker of their outputs.

  testdata_gen.py gen   --bootstrap-servers 127.0.0.1:19092 --events 100000 [--seed 1]
  testdata_gen.py check --bootstrap-servers 127.0.0.1:19092 --query q5 [--topic nexmark-q5-flink]

`gen` writes nexmark-person / nexmark-auction / nexmark-bid (create them with 2 partitions first)
in Nexmark's proportions (1 person : 3 auctions : 46 bids in every 50 events), one event per
millisecond, auctions selling for earlier persons and bids on earlier auctions, as compact JSON
with the id (bids: the auction) as a decimal key and the record timestamp = dateTime.
`check` reads the input topics back, computes the query's expected result in Python and compares
it with the output topic. It is only for testing the jobs on small inputs; the benchmark's real
data comes from Fjord's own generator.
"""
import argparse
import collections
import json
import random
import sys

from confluent_kafka import Consumer, Producer, TopicPartition

STATES = ["AZ", "CA", "ID", "OR", "WA", "WY"]
CITIES = ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond",
          "Seattle", "Kent", "Cheyenne"]
FIRST = ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"]
LAST = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"]
CHANNELS = ["Google", "Facebook", "Baidu", "Apple"]
FIRST_ID = 1000
WINDOW = 10_000
HOP = 2_000


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def gen(args):
    rnd = random.Random(args.seed)
    p = Producer({"bootstrap.servers": args.bootstrap_servers, "linger.ms": 20,
                  "queue.buffering.max.messages": 1_000_000})
    base = args.start_ms
    next_person = next_auction = FIRST_ID
    counts = collections.Counter()
    for i in range(args.events):
        ts = base + i
        kind = i % 50
        if kind == 0 or next_person == FIRST_ID:
            pid = next_person
            next_person += 1
            v = {"id": pid, "name": f"{rnd.choice(FIRST)} {rnd.choice(LAST)}",
                 "emailAddress": f"p{pid}@example.com",
                 "creditCard": " ".join(f"{rnd.randrange(10000):04d}" for _ in range(4)),
                 "city": rnd.choice(CITIES), "state": rnd.choice(STATES), "dateTime": ts,
                 "extra": "x" * rnd.randrange(10)}
            topic, key = "nexmark-person", pid
        elif kind <= 3 or next_auction == FIRST_ID:
            aid = next_auction
            next_auction += 1
            # sellers: mostly the last few persons (so q8 finds some in the same window)
            seller = max(FIRST_ID, next_person - 1 - int(rnd.expovariate(1 / 3)))
            initial = rnd.randrange(1, 1000)
            v = {"id": aid, "itemName": f"item{aid}", "description": "a nexmark item",
                 "initialBid": initial, "reserve": initial + rnd.randrange(1000), "dateTime": ts,
                 "expires": ts + rnd.randrange(10_000, 20_000), "seller": seller,
                 "category": 10 + rnd.randrange(5), "extra": ""}
            topic, key = "nexmark-auction", aid
        else:
            # bids: on a recent auction, a few auctions "hot"
            back = int(rnd.expovariate(1 / 20))
            auction = max(FIRST_ID, next_auction - 1 - back)
            v = {"auction": auction, "bidder": FIRST_ID + rnd.randrange(next_person - FIRST_ID),
                 "price": rnd.randrange(1, 100_000), "channel": rnd.choice(CHANNELS),
                 "url": f"https://www.nexmark.com/{rnd.randrange(1000)}/item.htm?query=1",
                 "dateTime": ts, "extra": ""}
            topic, key = "nexmark-bid", auction
        while True:
            try:
                p.produce(topic, key=str(key).encode(), value=dumps(v).encode(), timestamp=ts)
                break
            except BufferError:
                p.poll(0.1)
        counts[topic] += 1
        if i % 10000 == 0:
            p.poll(0)
    left = p.flush(60)
    if left:
        sys.exit(f"{left} messages not delivered")
    print(dict(counts))


def read_topic(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "testdata-check",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    md = c.list_topics(topic, timeout=10).topics[topic]
    if md.error:
        sys.exit(f"{topic}: {md.error}")
    parts = []
    for pid in md.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, pid), timeout=10)
        if hi > lo:
            parts.append((pid, lo, hi))
    c.assign([TopicPartition(topic, pid, lo) for pid, lo, _ in parts])
    remaining = {pid: hi for pid, _, hi in parts}
    out = []
    while remaining:
        for m in c.consume(10000, timeout=5):
            if m.error():
                continue
            out.append(json.loads(m.value()))
            if m.offset() + 1 >= remaining.get(m.partition(), 1 << 62):
                remaining.pop(m.partition(), None)
        # a transactional topic ends on a commit marker, not on a record
        for pid, hi in list(remaining.items()):
            pos = c.position([TopicPartition(topic, pid)])[0].offset
            if pos >= hi:
                remaining.pop(pid)
    c.close()
    return out


def check(args):
    q = args.query
    topic = args.topic or f"nexmark-{q}-flink"
    out = read_topic(args.bootstrap_servers, topic)
    bids = persons = auctions = None
    if q in ("q0", "q1", "q2", "q5", "q7"):
        bids = read_topic(args.bootstrap_servers, "nexmark-bid")
    if q in ("q3", "q8"):
        persons = read_topic(args.bootstrap_servers, "nexmark-person")
        auctions = read_topic(args.bootstrap_servers, "nexmark-auction")
    problems = []

    def expect(cond, what):
        if not cond:
            problems.append(what)

    if q == "q0":
        expected = sorted(dumps(b) for b in bids)
        got = sorted(dumps(o) for o in out)
        expect(got == expected, f"q0: {len(got)} outputs, {len(expected)} bids, equal={got == expected}")
    elif q == "q1":
        expected = sorted((b["auction"], b["bidder"], round(b["price"] * 0.908, 6), b["dateTime"]) for b in bids)
        got = sorted((o["auction"], o["bidder"], round(o["price"], 6), o["dateTime"]) for o in out)
        expect(got == expected, f"q1: {len(got)} outputs vs {len(expected)} expected")
    elif q == "q2":
        expected = sorted((b["auction"], b["price"]) for b in bids if b["auction"] % 123 == 0)
        got = sorted((o["auction"], o["price"]) for o in out)
        expect(got == expected, f"q2: {len(got)} outputs vs {len(expected)} expected")
    elif q == "q3":
        by_id = collections.defaultdict(list)
        for p in persons:
            if p["state"] in ("OR", "ID", "CA"):
                by_id[p["id"]].append(p)
        expected = sorted((p["name"], p["city"], p["state"], a["id"]) for a in auctions if a["category"] == 10
                          for p in by_id.get(a["seller"], []))
        got = sorted((o["name"], o["city"], o["state"], o["id"]) for o in out)
        expect(got == expected, f"q3: {len(got)} outputs vs {len(expected)} expected")
    elif q == "q5":
        counts = collections.defaultdict(collections.Counter)  # start -> auction -> n
        for b in bids:
            t = b["dateTime"]
            last = t - t % HOP
            for s in range(last, t - WINDOW, -HOP):
                counts[s][b["auction"]] += 1
        best = {s: max(c.values()) for s, c in counts.items()}
        got = collections.defaultdict(list)
        for o in out:
            got[o["starttime"]].append(o)
        expect(set(got) == set(best), f"q5: {len(got)} window starts vs {len(best)} expected")
        for s, rows in got.items():
            nums = [r["num"] for r in rows]
            expect(max(nums) == best.get(s), f"q5: window {s} max {max(nums)} vs {best.get(s)}")
            expect(len(set(nums)) == len(nums), f"q5: window {s} repeats a count: {nums}")
            for r in rows:
                expect(counts[s][r["auction"]] == r["num"], f"q5: wrong count {r}")
        print(f"q5: {len(out)} outputs over {len(got)} window starts")
    elif q == "q7":
        best = {}
        for b in bids:
            s = b["dateTime"] - b["dateTime"] % WINDOW
            best[s] = max(best.get(s, 0), b["price"])
        by_key = {(b["auction"], b["bidder"], b["price"]) for b in bids}
        expect(len(out) == len(best), f"q7: {len(out)} outputs vs {len(best)} windows")
        for o in out:
            expect(best.get(o["starttime"]) == o["price"], f"q7: wrong max {o} vs {best.get(o['starttime'])}")
            expect((o["auction"], o["bidder"], o["price"]) in by_key, f"q7: not a bid: {o}")
        expect(len({o["starttime"] for o in out}) == len(out), "q7: a window twice")
    elif q == "q8":
        win = lambda t: t - t % WINDOW  # noqa: E731
        sellers = collections.Counter((a["seller"], win(a["dateTime"])) for a in auctions)
        pairs = sorted((p["id"], p["name"], win(p["dateTime"])) for p in persons
                       for _ in range(sellers.get((p["id"], win(p["dateTime"])), 0)))
        distinct = sorted(set(pairs))
        got = sorted((o["id"], o["name"], o["starttime"]) for o in out)
        expect(got == (distinct if args.q8_distinct else pairs),
               f"q8: {len(got)} outputs vs {len(pairs)} pairs / {len(distinct)} distinct persons")
    for pr in problems[:20]:
        print("MISMATCH", pr)
    print(f"{q}: {len(out)} output records in {topic}: {'OK' if not problems else 'FAILED'}")
    sys.exit(1 if problems else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    g.add_argument("--events", type=int, default=100_000)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--start-ms", type=int, default=1_700_000_000_000)
    c = sub.add_parser("check")
    c.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    c.add_argument("--query", required=True)
    c.add_argument("--topic")
    c.add_argument("--q8-distinct", action="store_true")
    args = ap.parse_args()
    gen(args) if args.cmd == "gen" else check(args)


if __name__ == "__main__":
    main()
