"""Finding the daemon works where spec-kitty's users work (Linux and macOS), not only where /proc exists.

Given a process holding the daemon lock exactly as the daemon does (a whole-file ``flock``, as spec-kitty
takes it too), when a client asks who holds it, then it gets that process's pid from ``/proc/locks``
without ever taking the lock itself, or (without ``/proc``) learns that someone holds it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.daemon import lock, state
from orchestrator.daemon.lock import DaemonLock

HOLD = """
import sys
from pathlib import Path
from orchestrator.daemon.lock import DaemonLock
lock = DaemonLock(Path(sys.argv[1]))
assert lock.try_acquire()
print("held", flush=True)
sys.stdin.read()  # hold until the test closes our stdin
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A process that holds the daemon lock of a throwaway home until the test ends."""
    lock_path = tmp_path / "sync-daemon.lock"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "held\n"
    yield child, lock_path
    assert child.stdin is not None
    child.stdin.close()
    child.stdout.close()
    child.wait(timeout=30)


def test_without_proc_a_held_lock_is_known_to_be_held(holder: tuple[subprocess.Popen[str], Path],
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``flock`` holders are invisible to ``F_GETLK``; without ``/proc/locks`` (macOS) all we can say is
    "someone", found by try-acquiring, and the lock stays the holder's."""
    _, lock_path = holder
    monkeypatch.setattr(lock, "PROC_LOCKS", tmp_path / "no-proc" / "locks")  # as on macOS
    for _ in range(3):
        assert state.lock_holder(lock_path) == state.UNKNOWN_HOLDER
    assert not DaemonLock(lock_path).try_acquire(attempts=1)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="Linux only: /proc/locks names flock holders")
def test_asking_never_takes_the_lock(holder: tuple[subprocess.Popen[str], Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that try-acquired the lock, even briefly, could make a starting daemon lose its own race."""
    child, lock_path = holder
    taken: list[int] = []
    monkeypatch.setattr(lock, "_probe_by_acquiring", lambda path: taken.append(1))
    for _ in range(3):
        assert state.lock_holder(lock_path) == child.pid
    assert taken == []


def test_our_lock_and_spec_kittys_exclude_each_other(tmp_path: Path) -> None:
    """spec-kitty takes ``fcntl.flock(open(path, "w"), LOCK_EX | LOCK_NB)`` on the same file."""
    import fcntl

    lock_path = tmp_path / "sync-daemon.lock"
    ours = DaemonLock(lock_path)
    assert ours.try_acquire()
    with open(lock_path, "w") as theirs:
        with pytest.raises(BlockingIOError):
            fcntl.flock(theirs, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ours.release()
        fcntl.flock(theirs, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert not DaemonLock(lock_path).try_acquire(attempts=1)
    assert lock_path.exists()  # never removed: a waiter must lock the same inode as the next holder


def test_a_free_or_missing_lock_has_no_holder(tmp_path: Path) -> None:
    lock_path = tmp_path / "sync-daemon.lock"
    assert state.lock_holder(lock_path) is None
    lock_path.touch()
    assert state.lock_holder(lock_path) is None


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="Linux only: cross-checks against /proc/locks")
def test_the_os_answer_agrees_with_proc_locks(holder: tuple[subprocess.Popen[str], Path]) -> None:
    child, lock_path = holder
    assert state.lock_holder(lock_path) == lock.holder_from_proc_locks(lock_path) == child.pid
