#!/usr/bin/env python3
"""Chaos soak of the auction pipeline: bids through the website while the
broker and the clients are killed with -9, the broker's disk fills up and
returns I/O errors (EIO), then a check that every acknowledged bid is in
the topic, the table and the backup file exactly once.

    sudo scripts/chaos.py [--fjord target/release/fjord] [--duration 600]
                          [--kills 50] [--disk-full 10] [--eio 10] [--json]

The broker's data lives on a tmpfs of --tmpfs-mb (mounted here, so run as
root; without root the disk-full and EIO episodes are skipped and the
report says so). A disk-full episode writes a ballast file until ENOSPC,
holds it for a few seconds, and deletes it: the broker must refuse
produces meanwhile (the website answers 5xx, so those bids are not
acknowledged) and take them again afterwards by itself.

For EIO the broker sees the tmpfs through scripts/eiofs.py, a FUSE
passthrough filesystem (mfusepy, installed into .venv on first use) that
fails write, fsync, fdatasync and fsyncdir with EIO while a control file
exists. An EIO episode creates that file for a few seconds (the first
half failing writes and fsyncs, the second half only the fsyncs, so
writes land but cannot be made durable), removes it, then kills the
broker with -9 and starts it again: a failed fsync poisons the partition
(Linux reports a writeback error once, so no later fsync may be trusted)
and a restart, which re-verifies the log tail, is the documented
recovery. Meanwhile produces fail with KAFKA_STORAGE_ERROR and those
bids are not acknowledged. Needs /dev/fuse; without it EIO is skipped
and the report says so.

Kills rotate between the broker, the website, the DB writers and the
backup writer; each is restarted at once.

Reported: faults injected, bids acknowledged, lost and duplicated (both
must be 0), and the longest stall (the longest time without an
acknowledged bid). A separate command, not part of the test run.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ITEMS = ["vintage-camera", "mountain-bike", "first-edition", "espresso-machine"]
ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
MFUSEPY = "mfusepy==3.1.1"  # scripts/eiofs.py overrides one of its FUSE methods
EIO_HOLD_S = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"chaos: nothing listening on {port} after {timeout}s")


class Proc:
    """One `fjord` process, restartable with the same arguments."""

    def __init__(self, name: str, args: list[str], logs: Path, port: int | None = None):
        self.name, self.args, self.logs, self.port = name, args, logs, port
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        log = open(self.logs / f"{self.name}.log", "ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log)
        self.starts += 1
        if self.port:
            wait_for_port(self.port, 60)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


class Load(threading.Thread):
    """Places bids as fast as the website answers; keeps the acknowledged
    ones (HTTP 201) and the longest gap between two acknowledgements."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base = base
        self.acked: list[str] = []
        self.refused = 0
        self.longest_stall = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        price, last_ack = 1000, time.monotonic()
        while not self.stop.is_set():
            price += 1
            body = {"item": ITEMS[price % 4], "name": f"chaos-{price % 7}", "price": price}
            req = urllib.request.Request(self.base + "/api/bids", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    answer = json.load(r)
                    if r.status == 201:
                        self.acked.append(answer["bid"]["id"])
                        now = time.monotonic()
                        self.longest_stall = max(self.longest_stall, now - last_ack)
                        last_ack = now
                        continue
            except (urllib.error.URLError, OSError, ValueError):
                pass
            self.refused += 1
            time.sleep(0.05)


def fill_disk(path: Path, hold: float) -> int:
    """Writes a ballast file on `path` until the disk is full, holds it,
    deletes it; returns the bytes it took."""
    ballast = path / "ballast"
    written = 0
    chunk = b"\0" * (1 << 20)
    with open(ballast, "wb") as f:
        while True:
            try:
                f.write(chunk)
                f.flush()
                written += len(chunk)
            except OSError:
                break
    time.sleep(hold)
    ballast.unlink()
    return written


def eio_python() -> tuple[str | None, str]:
    """The Python that runs scripts/eiofs.py (the project's .venv, with
    mfusepy installed on first use), or None and why EIO is skipped."""
    if os.geteuid() != 0:
        return None, "not root: no FUSE mount, no EIO episodes"
    if not os.path.exists("/dev/fuse"):
        return None, "no /dev/fuse: no EIO episodes"
    if not VENV_PYTHON.exists():
        print(f"chaos: creating {ROOT / '.venv'} for scripts/eiofs.py", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ROOT / ".venv")], check=True)
    if subprocess.run([str(VENV_PYTHON), "-c", "import mfusepy"], capture_output=True).returncode != 0:
        print(f"chaos: installing {MFUSEPY} into .venv (scripts/eiofs.py needs it)", flush=True)
        pip = subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              MFUSEPY])
        if pip.returncode != 0:
            return None, f"could not pip install {MFUSEPY} into .venv: no EIO episodes"
    return str(VENV_PYTHON), ""


def mounted_at(path: Path) -> bool:
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


def clear_stale_eiofs_mounts() -> None:
    """Unmounts eiofs mounts of earlier runs whose process died (their
    statfs fails with ENOTCONN); a live one belongs to another run and
    stays."""
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[0] == "eiofs"]
    for m in mounts:
        try:
            os.statvfs(m)
        except OSError as e:
            if e.errno == errno.ENOTCONN:
                print(f"chaos: unmounting a stale eiofs mount at {m}", flush=True)
                subprocess.run(["umount", "-l", m])


class EioFs:
    """scripts/eiofs.py mounting `backing` on `mountpoint`; EIO while the
    control file exists."""

    def __init__(self, python: str, backing: Path, mountpoint: Path, control: Path, logs: Path):
        self.mountpoint, self.control, self.log_path = mountpoint, control, logs / "eiofs.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([python, str(ROOT / "scripts" / "eiofs.py"), str(backing), str(mountpoint),
                                      "--control", str(control)], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while not mounted_at(mountpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"chaos: eiofs did not mount {mountpoint} (use --eio 0 to skip EIO):\n"
                                 + self.log_path.read_text(errors="replace")[-2000:])
            time.sleep(0.1)

    def errors_returned(self) -> dict[str, int]:
        """How many EIOs eiofs has returned so far, by operation (it logs
        one line each)."""
        text = self.log_path.read_text(errors="replace")
        return {op: text.count(f" EIO on {op} ") for op in ("write", "fsync", "fsyncdir")}

    def _control(self, text: str) -> None:
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.rename(self.control)

    def episode(self, hold: float) -> None:
        """First half: writes and fsyncs fail; second half: only fsyncs
        (writes land, as when writeback fails behind the page cache)."""
        self._control("")
        try:
            time.sleep(hold / 2)
            self._control("fsync\n")
            time.sleep(hold / 2)
        finally:
            self.control.unlink()

    def stop(self) -> None:
        """SIGTERM makes libfuse unmount and exit; a lazy umount if not."""
        self.control.unlink(missing_ok=True)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if mounted_at(self.mountpoint):
            subprocess.run(["umount", "-l", str(self.mountpoint)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fjord", default="target/release/fjord")
    ap.add_argument("--duration", type=float, default=600, help="seconds of faults (default 600)")
    ap.add_argument("--kills", type=int, default=50, help="kill -9 events (default 50)")
    ap.add_argument("--disk-full", type=int, default=10, help="disk-full episodes (default 10)")
    ap.add_argument("--eio", type=int, default=10,
                    help="EIO episodes, each followed by a broker restart (default 10)")
    ap.add_argument("--tmpfs-mb", type=int, default=256)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs) afterwards")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args()
    fjord = str(Path(args.fjord).resolve())

    work = Path(tempfile.mkdtemp(prefix="fjord-chaos-"))
    logs, broker_dir, auction_dir = work / "logs", work / "broker", work / "auction"
    for d in (logs, broker_dir, auction_dir):
        d.mkdir()
    mounted = False
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.tmpfs_mb}m", "tmpfs", str(broker_dir)],
                       check=True)
        mounted = True
    disk_full = args.disk_full if mounted else 0
    # With EIO the broker reaches the tmpfs (broker_dir, which disk-full
    # episodes fill) through the FUSE mount `fuse_dir`.
    eio_skipped, eiofs, data_root = "", None, broker_dir
    python = None
    if args.eio > 0:
        python, eio_skipped = eio_python()
    if python:
        clear_stale_eiofs_mounts()
        fuse_dir = work / "fuse"
        fuse_dir.mkdir()
        try:
            eiofs = EioFs(python, broker_dir, fuse_dir, work / "eio-on", logs)
        except BaseException:
            subprocess.run(["umount", str(broker_dir)])
            raise
        data_root = fuse_dir
    eio = args.eio if eiofs else 0

    kafka_port, http_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    cluster = ["--bootstrap-servers", bootstrap, "--data-dir", str(auction_dir)]
    broker = Proc("broker", [fjord, "serve", "--data-dir", str(data_root / "data"),
                             "--listen", bootstrap, "--no-registry", "--no-connect"], logs, kafka_port)
    web = Proc("web", [fjord, "auction", "web", *cluster, "--http-listen", f"127.0.0.1:{http_port}"],
               logs, http_port)
    writers = Proc("db-writers", [fjord, "auction", "db-writer", "--instances", "2", *cluster], logs)
    backup = Proc("backup-writer", [fjord, "auction", "backup-writer", *cluster], logs)
    procs = [broker, web, writers, backup]
    faults = {"kill -9 broker": 0, "kill -9 website": 0, "kill -9 db-writers": 0,
              "kill -9 backup-writer": 0, "disk full": 0, "EIO": 0}
    try:
        for p in procs:
            p.start()
        load = Load(f"http://127.0.0.1:{http_port}")
        load.start()
        events = ["kill"] * args.kills + ["full"] * disk_full + ["eio"] * eio
        random.Random(7).shuffle(events)
        gap = args.duration / max(1, len(events))
        victims = [broker, web, writers, backup]
        for i, event in enumerate(events):
            time.sleep(gap)
            if event == "full":
                took = fill_disk(broker_dir, hold=3.0)
                faults["disk full"] += 1
                print(f"[{i + 1}/{len(events)}] disk full ({took >> 20} MiB of ballast), held 3 s", flush=True)
            elif event == "eio":
                before = eiofs.errors_returned()
                eiofs.episode(EIO_HOLD_S)
                after = eiofs.errors_returned()
                returned = ", ".join(f"{after[op] - before[op]} {op}" for op in after)
                # The poisoned partitions stay refused until a restart.
                broker.kill()
                broker.start()
                faults["EIO"] += 1
                print(f"[{i + 1}/{len(events)}] EIO for {EIO_HOLD_S:.0f} s (returned on {returned}), "
                      f"broker restarted; {len(load.acked)} bids acknowledged so far", flush=True)
            else:
                victim = victims[i % len(victims)]
                victim.kill()
                victim.start()
                faults[f"kill -9 {'website' if victim is web else victim.name}"] += 1
                print(f"[{i + 1}/{len(events)}] kill -9 {victim.name}, restarted; "
                      f"{len(load.acked)} bids acknowledged so far", flush=True)
        load.stop.set()
        load.join(timeout=60)

        # Let both groups finish, then check topic, file and table agree.
        verify = [fjord, "auction", "backup", "verify", *cluster]
        deadline = time.monotonic() + 300
        while True:
            out = subprocess.run(verify, capture_output=True, text=True)
            if out.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        # Every acknowledged bid in the table and the backup file exactly once.
        db = sqlite3.connect(auction_dir / "auction.db")
        table = {}
        for (bid_id,) in db.execute("SELECT bid_id FROM bid"):
            table[bid_id] = table.get(bid_id, 0) + 1
        backup_ids: dict[str, int] = {}
        with open(auction_dir / "bids-backup.jsonl") as f:
            for line in f:
                if line.strip():
                    bid_id = json.loads(line)["id"]
                    backup_ids[bid_id] = backup_ids.get(bid_id, 0) + 1
        acked = load.acked
        lost = sorted({b for b in acked if table.get(b, 0) == 0 or backup_ids.get(b, 0) == 0})
        duplicated = sorted({b for b, n in list(table.items()) + list(backup_ids.items()) if n > 1})
        report = {
            "duration_s": args.duration,
            "faults": faults,
            "faults_total": sum(faults.values()),
            "disk_full_skipped": "" if mounted else "not root: no tmpfs, no disk-full episodes",
            "eio_skipped": eio_skipped,
            "eio_errors_returned": eiofs.errors_returned() if eiofs else {},
            "bids_acknowledged": len(acked),
            "bids_refused_during_faults": load.refused,
            "lost": len(lost),
            "duplicated": len(duplicated),
            "longest_stall_s": round(load.longest_stall, 2),
            "verify_exit": out.returncode,
            "verify_output": out.stdout.strip().splitlines()[-6:],
        }
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for k, v in report.items():
                print(f"{k}: {v}")
        ok = not lost and not duplicated and out.returncode == 0
        if not ok:
            print(f"chaos: FAILED (lost {lost[:5]}, duplicated {duplicated[:5]}); logs in {logs}", file=sys.stderr)
        sys.exit(0 if ok else 1)
    finally:
        for p in reversed(procs):
            p.stop()
        if eiofs:
            eiofs.stop()
        if mounted:
            subprocess.run(["umount", str(broker_dir)])
        if not args.keep:
            subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
