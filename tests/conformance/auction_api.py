"""The auction website's JSON API as the auction tests call it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

# The sample items `fjord auction up` writes to a new data dir's auction.toml.
ITEMS = ["vintage-camera", "mountain-bike", "first-edition", "espresso-machine"]


def http_json(url: str, body: dict | None = None) -> tuple[int, dict]:
    """GET (no body) or POST a JSON body; returns the status and the JSON
    answer, also for 4xx/5xx answers."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def post(base: str, body: dict) -> tuple[int, dict]:
    """POST /api/bids on the website at `base`."""
    return http_json(base + "/api/bids", body)
