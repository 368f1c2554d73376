#!/usr/bin/env python3
"""Start-up and crash-recovery time of `fjord serve` on a data dir of ~1 GB.

Measures, from process start, the time until the broker answers an
ApiVersions request (not merely until the port accepts a TCP connection):

  * after a clean shutdown (SIGINT), several runs;
  * after kill -9 (recovery: the active segments' tails are re-verified).

Usage: scripts/bench-startup.py [--fjord target/release/fjord] [--gib 1] [--dir DIR]
The data dir is filled once with 1 KiB records through kcat and reused.
"""
import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api_versions_ok(port):
    """True once the broker answers ApiVersions v0."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            body = struct.pack(">hhih", 18, 0, 1, 5) + b"probe"
            s.sendall(struct.pack(">i", len(body)) + body)
            head = s.recv(8)
            return len(head) == 8 and struct.unpack(">i", head[4:8])[0] == 1
    except OSError:
        return False


def start(fjord, data_dir, port):
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [fjord, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = t0 + 60
    while not api_versions_ok(port):
        if time.perf_counter() > deadline or proc.poll() is not None:
            proc.kill()
            sys.exit(f"broker did not come up: {proc.stderr.read()[-2000:]}")
        time.sleep(0.0005)
    return proc, (time.perf_counter() - t0) * 1000


def stop(proc, sig=signal.SIGINT):
    proc.send_signal(sig)
    proc.wait(timeout=60)


def dir_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fjord", default="target/release/fjord")
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "fjord-startup-bench"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    port = free_port()
    want = int(args.gib * (1 << 30))
    if dir_size(args.dir) < want * 0.95:
        print(f"filling {args.dir} with {args.gib} GiB of 1 KiB records ...", flush=True)
        proc, _ = start(args.fjord, args.dir, port)
        line = (b"x" * 1023) + b"\n"
        chunk = line * 65536  # 64 MiB per kcat run
        while dir_size(args.dir) < want:
            subprocess.run(["kcat", "-P", "-b", f"127.0.0.1:{port}", "-t", "startup-bench",
                            "-X", "batch.size=1000000", "-X", "linger.ms=20"], input=chunk, check=True)
        stop(proc)
    size = dir_size(args.dir)
    print(f"data dir {args.dir}: {size / (1 << 30):.2f} GiB")

    clean = []
    for _ in range(args.runs):
        proc, ms = start(args.fjord, args.dir, port)
        clean.append(ms)
        stop(proc)
    clean.sort()
    print(f"start-up after clean shutdown (to first ApiVersions answer): "
          f"min {clean[0]:.1f} ms, median {clean[len(clean) // 2]:.1f} ms, max {clean[-1]:.1f} ms")

    proc, _ = start(args.fjord, args.dir, port)
    subprocess.run(["kcat", "-P", "-b", f"127.0.0.1:{port}", "-t", "startup-bench"],
                   input=(b"y" * 1023 + b"\n") * 10000, check=True)
    stop(proc, signal.SIGKILL)
    proc, ms = start(args.fjord, args.dir, port)
    print(f"start-up after kill -9 (recovery included): {ms:.1f} ms")
    stop(proc)


if __name__ == "__main__":
    main()
