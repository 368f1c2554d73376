"""The Java kafka-clients 3.9.1 jar with its defaults (idempotence on,
acks=all): AdminClient.createTopics with 2 partitions, then the seed 001
pattern once per compression codec."""

import json
import subprocess

from helpers import check_seed001

COUNT = 1000
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def run_java(classpath, *args, timeout=400):
    res = subprocess.run(["java", "-cp", classpath, "Conformance", *args],
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"java exited {res.returncode}:\n{res.stderr[-6000:]}"
    try:
        return json.loads(res.stdout.strip().splitlines()[-1]), res.stderr
    except (ValueError, IndexError):
        raise AssertionError(f"no JSON summary:\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}")


def test_seed001_all_codecs(broker, topic, java_classpath):
    out, log = run_java(java_classpath, "seed001", broker.bootstrap, topic, str(COUNT))
    failures = []
    for codec in CODECS:
        r = out["results"][codec]
        try:
            assert "error" not in r, f"failed at stage {r['stage']}: {r['error']}"
            assert r["partitions"] == 2, f"describeTopics shows {r['partitions']} partitions"
            check_seed001(r["records"], COUNT, r["acks"])
        except AssertionError as e:
            failures.append(f"{codec}: {e}")
    assert not failures, "\n".join(failures) + f"\njava stderr (tail):\n{log[-4000:]}"
