"""Publishing a directory atomically: one writer at a time, and a swap readers never see half of.

Used by the feed writer; kept apart because it is about the file system, not about RDF.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import shutil
import uuid
from pathlib import Path

from publish.feed_model import FeedError


class writer_lock:
    """One writer per feed directory: a second concurrent run would swap half a feed in.

    Holding the lock also makes any leftover ``.<name>.new-*`` directory (from a
    killed run) safe to delete.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.path = out_dir.parent / f".{out_dir.name}.lock"

    def __enter__(self) -> None:
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise FeedError(f"another feed writer holds {self.path}; not writing {self.out_dir}") from None
        for stale in self.out_dir.parent.glob(f".{self.out_dir.name}.new-*"):
            shutil.rmtree(stale, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def swap_in(tmp: Path, out_dir: Path) -> None:
    """Put ``tmp`` at ``out_dir`` and delete the previous feed.

    With an atomic exchange readers never see a missing feed; the fallback (two
    renames) has a window of microseconds with no ``out_dir`` but still never a
    half-written one.
    """
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    if exchange(tmp, out_dir):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous feed
        return
    old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:12]}"
    os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
