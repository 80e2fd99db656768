"""The daemon lock: holding it is what makes a process *the* daemon of a ``SPEC_KITTY_HOME``.

A fasteners ``InterProcessLock`` (a POSIX record lock) on ``sync-daemon.lock``, taken as the daemon's
first act and held for its whole life. The OS drops it when the process dies, however it dies, so a
leftover file never blocks anyone. Two POSIX-lock pitfalls shape this module:

- Closing *any* descriptor of the file releases *all* of the process's locks on it, so a failed
  attempt closes its own descriptor before the next try, and the daemon never opens the file again.
- The daemon removes the file on a clean exit. A rival that opened the old file just before the
  unlink could then lock an orphaned inode while a third process creates and locks a new file: two
  "holders". So a winner checks that the path still names the inode it locked, and retries if not;
  and only the holder ever unlinks (clients never delete the lock file).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


class DaemonLock:
    """The daemon's inter-process lock, acquired without blocking."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: Any = None
        self._inode: tuple[int, int] | None = None

    @property
    def held(self) -> bool:
        return self._lock is not None

    def try_acquire(self, *, attempts: int = 5, pause: float = 0.01) -> bool:
        """Take the lock if nobody holds it. A few quick retries absorb a client that probes the lock
        by try-acquiring it on platforms where ``F_GETLK`` cannot answer; a real holder still wins."""
        import fasteners

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for attempt in range(attempts):
            lock = fasteners.InterProcessLock(str(self.path))
            if lock.acquire(blocking=False):
                locked = os.fstat(lock.lockfile.fileno())
                if self._names(locked.st_dev, locked.st_ino):
                    self._lock, self._inode = lock, (locked.st_dev, locked.st_ino)
                    return True
                lock.release()  # we locked an inode that was unlinked under us: retry on the new file
                continue
            if lock.lockfile is not None:
                lock.lockfile.close()
                lock.lockfile = None
            if attempt + 1 < attempts:
                time.sleep(pause)
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

    def release_and_remove(self) -> None:
        """Unlink the file (only if it is still ours) while holding the lock, then release it."""
        if self._lock is None:
            return
        try:
            if self.still_ours():
                self.path.unlink(missing_ok=True)
        finally:
            self._lock.release()
            self._lock, self._inode = None, None
