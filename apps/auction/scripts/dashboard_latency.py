#!/usr/bin/env python3
"""Bid-to-dashboard latency: the time from placing a bid (POST /api/bids) to
the dashboard's SSE stream (/api/stream) carrying it in its latest bids.

    python3 apps/auction/scripts/dashboard_latency.py http://127.0.0.1:5000 [BIDS]

Standard library only. Prints p50, p99 and max over BIDS bids (default 30).
"""
import json
import sys
import threading
import time
import urllib.request

base = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:5000"
count = int(sys.argv[2]) if len(sys.argv) > 2 else 30
seen = {}  # bid id -> time it first appeared on the stream
lock = threading.Condition()


def listen():
    with urllib.request.urlopen(base + "/api/stream", timeout=120) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if not line.startswith("data:"):
                continue
            now = time.monotonic()
            snapshot = json.loads(line[5:])
            with lock:
                for b in snapshot["latest"]:
                    seen.setdefault(b["bid_id"], now)
                lock.notify_all()


threading.Thread(target=listen, daemon=True).start()
items = json.load(urllib.request.urlopen(base + "/api/items"))
item = next(i for i in items if i["open"])
price = (item["highest"] or item["starting_price"]) + 1
latencies = []
for n in range(count):
    body = json.dumps({"item": item["item"], "name": f"latency-{n}", "price": price + n}).encode()
    req = urllib.request.Request(base + "/api/bids", body, {"Content-Type": "application/json"})
    start = time.monotonic()
    bid = json.load(urllib.request.urlopen(req))["bid"]
    with lock:
        if not lock.wait_for(lambda: bid["id"] in seen, timeout=30):
            sys.exit(f"bid {bid['id']} did not reach the dashboard in 30 s")
        latencies.append((seen[bid["id"]] - start) * 1000)
    time.sleep(0.2)
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))]
print(f"bid-to-dashboard over {count} bids: p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms, max {latencies[-1]:.0f} ms")
