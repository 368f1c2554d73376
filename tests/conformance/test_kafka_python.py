"""kafka-python, every release line from 1.4 to 3.x, on the seed 001 pattern.

Each kafka-python lives in its own venv, so the scenario (kp_scenario.py) runs
as a subprocess of that venv's interpreter and prints a JSON summary.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need
from helpers import check_seed001

HERE = Path(__file__).resolve().parent
COUNT = 1000


def _interpreters():
    """(version, python) for the suite's own kafka-python and each old one
    scripts/test.sh installed (FJORD_KP_PYTHONS, colon separated)."""
    import kafka

    found = [(kafka.__version__, sys.executable)]
    for py in filter(None, os.environ.get("FJORD_KP_PYTHONS", "").split(":")):
        m = re.search(r"kp([0-9][0-9.]*)", py)
        found.append((m.group(1) if m else py, py))
    return found


CASES = []
for version, python in _interpreters():
    # Old venvs carry no codec libraries: gzip is in the standard library.
    codecs = ["none", "gzip", "snappy", "lz4", "zstd"] if python == sys.executable else ["none", "gzip"]
    for codec in codecs:
        CASES.append(pytest.param(python, codec, id=f"kafka-python-{version}-{codec}"))


@pytest.mark.parametrize("python,codec", CASES)
def test_seed001_keyed_two_partitions(broker, topic, python, codec):
    need(os.path.exists(python), f"no interpreter {python}")
    try:
        res = subprocess.run(
            [python, str(HERE / "kp_scenario.py"), "--bootstrap", broker.bootstrap, "--topic", topic,
             "--count", str(COUNT), "--compression", codec],
            capture_output=True, text=True, timeout=150,
        )
    except subprocess.TimeoutExpired as e:
        # Some kafka-python calls (1.4's offset reset) wait forever for an answer.
        err = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(f"kafka-python scenario still running after 150 s; its stderr:\n{err[-5000:]}")
    assert res.returncode == 0, f"scenario crashed:\n{res.stderr[-5000:]}"
    try:
        out = json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError(f"no JSON summary:\nstdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-5000:]}")
    assert "error" not in out, (
        f"kafka-python {out['kafka_python']} failed at stage {out['stage']}: {out['error']}\n"
        f"{out.get('traceback', '')}\nclient log:\n{res.stderr[-5000:]}"
    )
    assert out["partitions"] == [0, 1], f"topic has partitions {out['partitions']}, created with 2"
    check_seed001(out["records"], COUNT, out["acks"])
