"""One daemon per home, whichever tool started it: spec-kitty's daemon is never doubled, replaced or stopped.

Given a home where spec-kitty-cli's daemon lives (a process holding ``sync-daemon.lock`` with ``flock``,
exactly as its ``ensure_sync_daemon_running`` takes it, and a ``sync-daemon`` state file in its format:
url, port, token, pid lines), when a command of ours would start our daemon, then it says so in one
line with what to do and exits 0 as in manual mode, no daemon of ours starts, and the state file is
byte for byte untouched; ``sync daemon status`` names the pid and that it belongs to spec-kitty.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import Operator

pytestmark = pytest.mark.e2e

# spec-kitty 3.2.7, sync/daemon.py: lock_fd = open(_daemon_lock_file(), "w"); fcntl.flock(lock_fd, LOCK_EX | LOCK_NB)
HOLD = """
import fcntl, sys
lock = open(sys.argv[1], "w")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
sys.stdin.read()
"""
REFUSED = (
    "spec-kitty's own sync daemon (pid {pid}) holds this home, so no daemon of ours is started.\n"
    "Run `spec-kitty sync run` for a one-shot sync, or stop spec-kitty-cli's daemon with its own tools "
    "(it retires after 15 idle minutes).\n"
)


@pytest.fixture
def spec_kittys_daemon(ready: Operator) -> Iterator[tuple[subprocess.Popen[str], str]]:
    ready.home.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(ready.lock_file)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "held\n"
    state = f"http://127.0.0.1:9400\n9400\n{'5f' * 16}\n{child.pid}\n"
    ready.state_file.write_text(state)
    yield child, state
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.close()
    child.stdout.close()
    child.wait(timeout=30)


def test_no_daemon_of_ours_starts_beside_spec_kittys(ready: Operator, repo: Path,
                                                    spec_kittys_daemon: tuple[subprocess.Popen[str], str]) -> None:
    child, state = spec_kittys_daemon
    ran = ready.run("tracker", "sync", "run", cwd=repo)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (REFUSED.format(pid=child.pid), "", 0)
    assert ready.daemons() == []
    assert ready.state_file.read_text() == state

    shown = ready.run("sync", "daemon", "status", cwd=repo)
    assert (shown.stdout, shown.exit_code) == (
        f"Sync daemon: spec-kitty's own daemon is running (pid {child.pid}); it belongs to spec-kitty-cli.\n", 0)
    stopped = ready.run("sync", "daemon", "stop", cwd=repo)
    assert (stopped.stdout, stopped.exit_code) == (REFUSED.format(pid=child.pid), 0)
    assert child.poll() is None
    assert ready.state_file.read_text() == state
    assert ready.run("status", cwd=repo).exit_code == 0
    assert child.poll() is None


def test_spec_kittys_state_file_alone_still_keeps_ours_out(
        ready: Operator, repo: Path, spec_kittys_daemon: tuple[subprocess.Popen[str], str]) -> None:
    """Its daemon does not hold the lock for its life (only while starting): its state file is the sign."""
    child, state = spec_kittys_daemon
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=30)  # the lock is free now; the file names a pid that no longer runs
    ran = ready.run("tracker", "sync", "run", cwd=repo)
    assert (ran.stdout, ran.exit_code) == (REFUSED.format(pid=child.pid), 0)
    assert ready.daemons() == []
    assert ready.state_file.read_text() == state
    shown = ready.run("sync", "daemon", "status", cwd=repo)
    assert shown.stdout == (f"Sync daemon: spec-kitty's daemon state file names pid {child.pid}, which is not "
                            "running; it belongs to spec-kitty-cli and is left for it to clear.\n")
