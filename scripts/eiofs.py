#!/usr/bin/env python3
"""eiofs: a FUSE passthrough filesystem that returns EIO on demand.

The chaos soak (scripts/chaos.py) puts the broker's data dir on it to
inject disk I/O errors, which a real filesystem cannot be made to return:

    eiofs.py BACKING_DIR MOUNTPOINT --control FILE

mounts MOUNTPOINT in the foreground, passing every operation through to
BACKING_DIR. While FILE exists (it must be outside the mount), fsync,
fdatasync, fsyncdir and write fail with EIO (a failed write writes
nothing); every other operation keeps working. If FILE contains the word
`fsync`, only the fsyncs fail and writes land, as when a disk's writeback
fails behind the page cache. Each injected error is logged on stderr with
the operation and the file it hit.

Needs root (or /dev/fuse access) and a Python with mfusepy and libfuse3
(chaos.py runs it with .venv/bin/python, where it installs mfusepy).
SIGINT or SIGTERM unmounts and exits; a stale mount left at MOUNTPOINT by
a killed instance is unmounted first.
Writes go through to the backing file at once (no writeback cache), so
a write error reaches the write() call and an fsync error the fsync().
"""
from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
import threading
import time

try:
    import mfusepy as fuse
except ImportError:  # pragma: no cover - the message is the point
    sys.exit("eiofs: needs the mfusepy package (pip install mfusepy) and libfuse3")


class EioFs(fuse.Operations):
    """Passthrough to `root`; EIO on write/fsync while `control` exists."""

    use_ns = True
    # Mounted with nopath (and these two flags, which make mfusepy set
    # nullpath_ok): libfuse passes no path to operations on an open file
    # (read, write, fsync, truncate on an fd, release...); they use the fd,
    # and no request pays for a path lookup.
    flag_nopath = True
    flag_nullpath_ok = True

    def __init__(self, root: str, control: str):
        self.root = os.path.realpath(root)
        self.control = control
        self.paths: dict[int, str] = {}  # fd -> path, for the log lines
        # Files unlinked while open: libfuse renames them to .fuse_hiddenN
        # and unlinks that name on the last close. Here they are unlinked at
        # once (so the directory can be removed and lists without them, as on
        # a real filesystem) and the hidden name answers stat from an fd.
        self.hidden: dict[str, int] = {}
        self.mutex = threading.Lock()  # not `lock`: that name is a FUSE op
        self.injected = {"write": 0, "fsync": 0, "fsyncdir": 0}
        self.unmounted = False

    def _full(self, path: str | None) -> str:
        if path is None:  # an operation on an open file that needs a name
            raise fuse.FuseOSError(errno.EBADF)
        return os.path.join(self.root, path.lstrip("/"))

    def _eio(self, op: str, what: str) -> None:
        """Raises EIO if the control file exists (for a write, unless it
        says `fsync`)."""
        try:
            size = os.stat(self.control).st_size
        except FileNotFoundError:
            return
        fsync_only = False
        if size:
            try:
                with open(self.control) as f:
                    fsync_only = "fsync" in f.read()
            except FileNotFoundError:
                return
        if op != "write" or not fsync_only:
            with self.mutex:
                self.injected[op] += 1
            print(f"eiofs: {time.strftime('%H:%M:%S')} EIO on {op} {what}", file=sys.stderr, flush=True)
            raise fuse.FuseOSError(errno.EIO)

    # --- metadata ---------------------------------------------------------
    def access(self, path, amode):
        if not os.access(self._full(path), amode):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    def getattr(self, path, fh=None):
        if path is None and fh is not None:
            st = os.fstat(fh)
        elif path in self.hidden:
            st = os.fstat(self.hidden[path])
        else:
            st = os.lstat(self._full(path))
        return {k: getattr(st, k) for k in ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid",
                                            "st_size", "st_blocks", "st_blksize", "st_rdev")} | {
            "st_atime": st.st_atime_ns, "st_mtime": st.st_mtime_ns, "st_ctime": st.st_ctime_ns}

    def chmod(self, path, mode):
        os.chmod(self._full(path), mode)
        return 0

    def chown(self, path, uid, gid):
        os.chown(self._full(path), uid, gid)
        return 0

    def utimens(self, path, times=None):
        os.utime(self._full(path), ns=times) if times else os.utime(self._full(path))
        return 0

    def readlink(self, path):
        return os.readlink(self._full(path))

    def statfs(self, path):
        sv = os.statvfs(self._full(path))
        return {k: getattr(sv, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                                            "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")}

    # --- directories --------------------------------------------------------
    # Open directories are fds too: fsyncdir gets no path (nullpath_ok).
    def opendir(self, path):
        fd = os.open(self._full(path), os.O_RDONLY | os.O_DIRECTORY)
        self.paths[fd] = path
        return fd

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(fh)

    def releasedir(self, path, fh):
        self.paths.pop(fh, None)
        os.close(fh)
        return 0

    def mkdir(self, path, mode):
        os.mkdir(self._full(path), mode)
        return 0

    def rmdir(self, path):
        os.rmdir(self._full(path))
        return 0

    def fsyncdir(self, path, datasync, fh):
        self._eio("fsyncdir", self.paths.get(fh, "?"))
        os.fsync(fh)
        return 0

    # --- names --------------------------------------------------------------
    def unlink(self, path):
        if path in self.hidden:
            os.close(self.hidden.pop(path))
            return 0
        os.unlink(self._full(path))
        return 0

    def rename(self, old, new):
        if os.path.basename(new).startswith(".fuse_hidden"):
            fd = os.open(self._full(old), os.O_PATH | os.O_NOFOLLOW)
            os.unlink(self._full(old))
            self.hidden[new] = fd
            return 0
        os.rename(self._full(old), self._full(new))
        for fd, p in list(self.paths.items()):  # names for the log lines only
            if p == old or p.startswith(old + "/"):
                self.paths[fd] = new + p[len(old):]
        return 0

    def link(self, target, source):
        os.link(self._full(source), self._full(target))
        return 0

    def symlink(self, target, source):
        os.symlink(source, self._full(target))
        return 0

    def mknod(self, path, mode, dev):
        os.mknod(self._full(path), mode, dev)
        return 0

    # --- files --------------------------------------------------------------
    def open(self, path, flags):
        fd = os.open(self._full(path), flags)
        self.paths[fd] = path
        return fd

    def create(self, path, mode, flags):
        fd = os.open(self._full(path), flags | os.O_CREAT, mode)
        self.paths[fd] = path
        return fd

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._eio("write", self.paths.get(fh, "?"))
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        if fh is not None:
            os.ftruncate(fh, length)
        else:
            os.truncate(self._full(path), length)
        return 0

    def fallocate(self, path, mode, offset, size, fh):
        if mode != 0:
            raise fuse.FuseOSError(errno.EOPNOTSUPP)
        os.posix_fallocate(fh, offset, size)
        return 0

    def fsync(self, path, datasync, fh):
        self._eio("fsync", self.paths.get(fh, "?") + (" (fdatasync)" if datasync else ""))
        (os.fdatasync if datasync else os.fsync)(fh)
        return 0

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        self.paths.pop(fh, None)
        os.close(fh)
        return 0

    def destroy(self, path):
        self.unmounted = True
        print(f"eiofs: unmounted; EIO injected: {self.injected}", file=sys.stderr, flush=True)


class Fuse(fuse.FUSE):
    """mfusepy's FUSE, with ftruncate passing the file handle: its libfuse3
    truncate drops it, and with nullpath_ok there is no path either."""

    def truncate_fuse_3(self, path, length, fip):
        fh = fip.contents.fh if fip else None
        return self.operations.truncate(None if path is None else path.decode(self.encoding, self.errors),
                                        length, fh)


def is_mounted(mountpoint: str) -> bool:
    target = os.path.realpath(mountpoint)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == target for line in f)


def clear_stale_mount(mountpoint: str) -> None:
    """Unmounts what a killed instance left at `mountpoint` (its statfs
    fails with ENOTCONN, "Transport endpoint is not connected")."""
    try:
        os.statvfs(mountpoint)  # statfs is never answered from a cache
    except OSError as e:
        if e.errno != errno.ENOTCONN:
            raise
        print(f"eiofs: unmounting a stale mount at {mountpoint}", file=sys.stderr, flush=True)
        subprocess.run(["umount", "-l", mountpoint], check=True)
    if is_mounted(mountpoint):
        sys.exit(f"eiofs: {mountpoint} is already a live mount point")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("backing", help="directory whose contents the mount shows")
    ap.add_argument("mountpoint", help="empty directory to mount on")
    ap.add_argument("--control", required=True,
                    help="while this file exists, write/fsync/fdatasync/fsyncdir fail with EIO; "
                         "only the fsyncs if it contains 'fsync' (keep it outside the mount)")
    ap.add_argument("--debug", action="store_true", help="libfuse debug output (every request)")
    args = ap.parse_args()
    if os.path.realpath(args.control).startswith(os.path.realpath(args.mountpoint) + os.sep):
        sys.exit("eiofs: --control must be outside the mount")
    clear_stale_mount(args.mountpoint)
    ops = EioFs(args.backing, os.path.abspath(args.control))
    print(f"eiofs: mounting {args.backing} on {args.mountpoint}; EIO while {args.control} exists",
          file=sys.stderr, flush=True)
    # Multithreaded; no writeback cache, so writes reach pwrite at once and
    # their errors reach the caller. libfuse3 always does big writes (up to
    # 128 KiB a request); its fuse_main takes no max_write option.
    try:
        Fuse(ops, args.mountpoint, foreground=True, nothreads=False, debug=args.debug,
             nopath=True, fsname="eiofs")
    except RuntimeError as e:
        # libfuse's SIGINT/SIGTERM handler unmounts, then fuse_main reports
        # the signal as a loop error (8): that is the normal way out.
        if not (ops.unmounted and not is_mounted(args.mountpoint)):
            raise SystemExit(f"eiofs: libfuse failed: {e}")


if __name__ == "__main__":
    main()
