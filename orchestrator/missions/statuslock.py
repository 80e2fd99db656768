"""The per-mission status lock spec-kitty takes, taken the same way, so its emit and our move take turns.

spec-kitty 3.2.7 (``specify_cli/status/locking.py``) serialises every write of a mission's
``status.events.jsonl`` and ``status.json`` with a ``filelock.FileLock`` on
``<git common dir>/spec-kitty-locks/<mission slug>.status.lock``: a whole-file ``flock`` on a file it
never removes, in the common dir so that every worktree of the repository meets the same file. It
decides the current lane and writes under that lock, and it *replaces* the log (temp file + rename)
on every append; so the log must be opened only once the lock is held, or a row would land in the old
inode. Holding the same ``flock`` on the same file is enough to take turns with it.

The common dir is found from the files git keeps (``.git`` folder, or a ``.git`` file naming the
worktree's git dir and its ``commondir``), without running git. Outside a git repository spec-kitty
would create ``<root>/.git/spec-kitty-locks/``; we do not make a folder look like a repository, and lock
the mission's folder there instead (spec-kitty needs git for its own commands anyway).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from orchestrator.errors import SpecKittyError
from states import catalog

LOCK_DIRECTORY = "spec-kitty-locks"
WAIT = 30.0  # seconds a move waits for spec-kitty (or another move) to finish with the mission
STEP = 0.01


def git_common_dir(root: Path) -> Path | None:
    """The git common dir of the repository holding ``root`` (``git rev-parse --git-common-dir``)."""
    for folder in (root, *root.parents):
        dotgit = folder / ".git"
        if dotgit.is_dir():
            return dotgit.resolve()
        if dotgit.is_file():
            try:
                text = dotgit.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                return None
            if not text.startswith("gitdir:"):
                return None
            gitdir = (folder / text[len("gitdir:"):].strip()).resolve()
            try:
                common = (gitdir / "commondir").read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                return gitdir
            return (gitdir / common).resolve()
    return None


def lock_path(root: Path, slug: str) -> Path | None:
    """spec-kitty's lock file for mission ``slug`` of the repository at ``root`` (None outside git)."""
    common = git_common_dir(root)
    return common / LOCK_DIRECTORY / f"{slug}.status.lock" if common is not None else None


class _TimedOut(Exception):
    pass


def _lock(fd: int, wait: float, path: Path) -> None:
    """``flock`` within ``wait`` seconds. In the main thread a blocked ``flock`` (woken by an interval
    timer) queues behind the holder as spec-kitty's own waiters do; elsewhere (the daemon's sync
    threads, where signals cannot be used) it polls."""
    import signal
    import threading

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    busy = SpecKittyError(catalog.STATUS_LOCK_BUSY.format(path=path, seconds=round(wait)))
    if threading.current_thread() is threading.main_thread():
        def expire(signum: int, frame: object) -> None:
            raise _TimedOut

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, wait)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except _TimedOut:
            raise busy from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise busy from None
            time.sleep(STEP)


@contextlib.contextmanager
def held(root: Path, slug: str, log: Path, *, wait: float = WAIT) -> Iterator[Path]:
    """Hold the mission's status lock (``flock``, exclusive) for the block; waits at most ``wait`` seconds,
    then says who to look at in one line. Yields the lock file."""
    path = lock_path(root, slug)
    if path is None:  # outside git: the mission's folder itself (never the log, which may be anything)
        path = log.parent
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        _lock(fd, wait, path)
        yield path
    finally:
        os.close(fd)  # closing the only descriptor releases the flock
