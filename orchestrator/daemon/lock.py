"""The daemon lock: holding it is what makes a process *the* daemon of a ``SPEC_KITTY_HOME``.

A whole-file ``flock`` on ``sync-daemon.lock``, taken as the daemon's first act and held for its whole
life: the very lock spec-kitty 3.2.7 takes on the same file (``fcntl.flock`` in its
``sync/daemon.py``) while it decides whether to start its own daemon. With both tools on one kind of
lock, neither starts a daemon while the other holds it (spec-kitty gives up after 10 s of trying and
starts none). A POSIX record lock (fasteners' ``InterProcessLock`` is ``lockf``) would not have
conflicted with spec-kitty's ``flock`` at all on Linux, which is how two daemons once ran at once.

The OS drops the lock when the process dies, however it dies, so a leftover file never blocks anyone.
The file is never removed (spec-kitty never removes it either, and a rival that opened the old file
just before an unlink would lock an orphaned inode while a third process locks a new file: two
"holders"). A winner still checks that the path names the inode it locked, and retries if not.

Asking who holds a lock (``lock_holder``) lives here too, beside taking it, and imports nothing of this
project: ``orchestrator.errors`` names the holder of any busy lock with it, and must not pull in the
home's paths or file helpers (which raise those very errors) to do so.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

UNKNOWN_HOLDER = -1  # the lock is held, but this platform cannot tell by whom
PROC_LOCKS = Path("/proc/locks")  # Linux only: an optional cross-check, never required


class DaemonLock:
    """The daemon's inter-process lock, acquired without blocking."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, *, attempts: int = 5, pause: float = 0.01) -> bool:
        """Take the lock if nobody holds it. A few quick retries absorb a client that probes the lock by
        try-acquiring it where ``/proc/locks`` cannot name the holder; a real holder still wins."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for attempt in range(attempts):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if attempt + 1 < attempts:
                    time.sleep(pause)
                continue
            locked = os.fstat(fd)
            if self._names(locked.st_dev, locked.st_ino):
                self._fd, self._inode = fd, (locked.st_dev, locked.st_ino)
                return True
            os.close(fd)  # we locked an inode that was unlinked under us: retry on the new file
        return False

    def _names(self, dev: int, ino: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == (dev, ino)

    def still_ours(self) -> bool:
        """Whether the lock path still names the file we hold (someone may have removed the home)."""
        return self._inode is not None and self._names(*self._inode)

    def release(self) -> None:
        """Release the lock; the file stays, as spec-kitty's does (see the module docstring)."""
        if self._fd is None:
            return
        fd, self._fd, self._inode = self._fd, None, None
        os.close(fd)


def lock_holder(lock_path: Path) -> int | None:
    """The pid holding the lock on ``lock_path``, None when it is free, ``UNKNOWN_HOLDER`` when held by someone.

    The lock is a whole-file ``flock`` (``orchestrator.daemon.lock``, and spec-kitty's on the same file),
    which ``fcntl(F_GETLK)`` cannot see. Linux lists every ``FLOCK`` with its holder's pid in
    ``/proc/locks``, so the holder is read there without taking the lock (a client that try-acquired it,
    even for a microsecond, could make a daemon starting at that instant believe it lost the race).
    Elsewhere we fall back to try-acquire-then-release (the daemon retries briefly to absorb that) and
    can only say "someone". Never call this from the lock's own holder with the try-acquire fallback:
    ``flock`` on a second descriptor of one's own locked file would report it busy.
    """
    if not lock_path.exists():
        return None
    if PROC_LOCKS.exists():
        return holder_from_proc_locks(lock_path)
    return _probe_by_acquiring(lock_path)


def holder_from_proc_locks(lock_path: Path) -> int | None:
    """The holder as Linux's ``/proc/locks`` lists it (absent elsewhere)."""
    try:
        st = os.stat(lock_path)
        table = PROC_LOCKS.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _probe_by_acquiring(lock_path)
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    for line in table.splitlines():
        fields = line.split()
        if "->" in fields or len(fields) < 6:  # "->" marks a process blocked waiting, not a holder
            continue
        try:
            major, minor, inode = fields[5].split(":")
            where = (int(major, 16), int(minor, 16), int(inode))
            pid = int(fields[4])
        except ValueError:
            continue
        if where == wanted:
            return pid if pid > 0 else UNKNOWN_HOLDER
    return None


def _probe_by_acquiring(lock_path: Path) -> int | None:
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        return UNKNOWN_HOLDER
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return UNKNOWN_HOLDER
    finally:
        os.close(fd)  # also releases the probe's own lock when it got one
    return None
