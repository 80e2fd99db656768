"""Proof that the bytes a reader skips are the bytes it saw: a mission log's identity is its content.

Git hands a checked-out file back with the same inode (seen across branch switches), so "same device,
inode and size, same last bytes" says nothing about what a log holds: two sibling branches whose logs
differ in one row of equal length look alike. Whatever remembers how far it read a log (the queue's
scan checkpoints, the saved folds of ``orchestrator.missions.savedfold``) therefore remembers, with the offset,
the SHA-256 of every byte before it, hashed as those bytes were read (no second read). The next reader
trusts the offset only after hashing the same prefix of the file as it is now (a read, never a parse:
~1 GB/s) and reads from the start when it differs. The inode plays no part: a file replaced by one
whose prefix is the same (a checkout of a branch whose log only grew) is resumed too.

One shortcut, git's "racily clean" rule: a file whose whole ``stat`` (device, inode, size, mtime,
ctime) is the one the last reader took before reading, and whose ctime was already ``settled`` then,
has not been written since, because every write moves ctime (which no user call can set back) to a
time later than a settled ctime. "Settled" leaves room for the file system's timestamp granularity:
``SETTLE_FINE_NS`` on a file system with sub-second stamps, ``SETTLE_COARSE_NS`` where both stamps fall
on whole seconds. (Not covered: a network file system whose server clock runs behind ours by more than
the margin, and a system clock set back by hand.)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

CHUNK = 1 << 20  # bytes hashed per read when proving a prefix
SETTLE_FINE_NS = 200_000_000  # >> a jiffy (<= 10 ms): the coarsest clock local Linux file systems stamp with
SETTLE_COARSE_NS = 3_000_000_000  # 1 s (ext3, HFS+) or 2 s (FAT) granularity
DIGEST_SIZE = hashlib.sha256().digest_size

clock: Callable[[], int] = time.time_ns  # the wall clock "settled" is measured against (tests move it)


def new_hash() -> Any:
    """A fresh running hash of a prefix (``update`` as bytes are read, ``copy().digest()`` to record)."""
    return hashlib.sha256()


class Seen(NamedTuple):
    """A file's ``stat`` as a reader took it before reading, and whether it may be trusted unread later."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int
    settled: bool

    def same_file(self, st: os.stat_result) -> bool:
        """Whether ``st`` proves the file unwritten since this was taken (see the module docstring)."""
        return self.settled and (self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns) == (
            st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def seen(st: os.stat_result, now_ns: int | None = None) -> Seen:
    """``st`` as a reader takes it before reading (``now_ns``: when, by ``clock`` unless given)."""
    now_ns = clock() if now_ns is None else now_ns
    coarse = st.st_ctime_ns % 1_000_000_000 == 0 and st.st_mtime_ns % 1_000_000_000 == 0
    margin = SETTLE_COARSE_NS if coarse else SETTLE_FINE_NS
    return Seen(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                st.st_ctime_ns <= now_ns - margin)


def prove(fd: int, offset: int, digest: bytes) -> Any | None:
    """The running hash of ``[0, offset)`` of ``fd`` when its digest is ``digest``, else None.

    Hashes the prefix as the file holds it now, in ``CHUNK`` reads into one buffer (``pread``: the
    fd's position is left alone). A file shorter than ``offset`` proves nothing."""
    if offset < 0 or len(digest) != DIGEST_SIZE:
        return None
    running = new_hash()
    buffer = bytearray(min(CHUNK, max(offset, 1)))
    view = memoryview(buffer)
    position = 0
    while position < offset:
        want = min(len(buffer), offset - position)
        got = os.preadv(fd, [view[:want]], position) if hasattr(os, "preadv") else _pread_into(fd, view, want,
                                                                                                position)
        if got <= 0:
            return None  # shorter than the offset: not the prefix we saw
        running.update(view[:got])
        position += got
    return running if running.digest() == digest else None


def _pread_into(fd: int, view: memoryview, want: int, position: int) -> int:
    data = os.pread(fd, want, position)
    view[:len(data)] = data
    return len(data)
