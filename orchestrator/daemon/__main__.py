"""``python -m orchestrator.daemon``: become the sync daemon of ``SPEC_KITTY_HOME``, or quietly leave.

Spawned by the CLI as ``sys.executable -m orchestrator.daemon`` (so it imports from whatever install
the CLI runs from: pipx, venv or editable). Taking the lock is the very first act, before aiohttp is
imported: when several CLIs race to spawn a daemon, the losers find the lock held and exit 0 at
once, and the clients all read the winner's state file.
"""

from __future__ import annotations

import os
import sys

from orchestrator.daemon.lock import DaemonLock
from orchestrator.home import paths


def main() -> int:
    lock = DaemonLock(paths.daemon_lock_file())
    try:
        acquired = lock.try_acquire()
    except OSError as exc:  # stdio is /dev/null: the log is the only place an operator can look
        note(f"cannot take the daemon lock {lock.path}: {exc.strerror or exc}")
        return 1
    if not acquired:
        return 0  # another daemon holds the lock: it is the daemon, we are not needed
    from orchestrator.daemon.life import foreign_daemon

    if foreign_daemon(own_lock=True) is not None:  # spec-kitty's daemon published itself: never ours to replace
        lock.release()
        return 0
    from orchestrator.daemon.server import run

    return run(lock)


def note(line: str) -> None:
    """Append one line to the daemon log before logging is set up (best effort, file born 0600)."""
    import time

    try:
        fd = os.open(paths.daemon_log_file(), os.O_CREAT | os.O_APPEND | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    except OSError:
        return
    with os.fdopen(fd, "a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} pid={os.getpid()} ERROR {line}\n")


if __name__ == "__main__":
    sys.exit(main())
