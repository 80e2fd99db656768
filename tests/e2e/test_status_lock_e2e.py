"""spec-kitty's status lock: while it holds a mission's lock, our move waits, then decides from its row.

Given a git repository whose mission spec-kitty is writing (it holds
``<git common dir>/spec-kitty-locks/<slug>.status.lock`` with ``flock`` and appends a row meanwhile), when
``wp move`` runs, then it queues behind that lock (seen in ``/proc/locks`` as a blocked waiter) and,
once the lock is released, moves from the lane spec-kitty just wrote, never from a stale one.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.projects import git_init
from support.shell import Shell
from support.wait import wait_for

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path("/proc/locks").exists(), reason="Linux only: reads /proc/locks")]

SLUG = "001-demo"


def waiting_on(path: Path) -> bool:
    st = os.stat(path)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


def test_a_move_waits_for_spec_kittys_lock_and_sees_its_row(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    folder = repo / "kitty-specs" / SLUG
    folder.mkdir(parents=True)
    shell = Shell(tmp_path)
    assert shell.run("wp", "move", "WP01", "--to", "planned", cwd=repo).exit_code == 0
    lock = repo / ".git" / "spec-kitty-locks" / f"{SLUG}.status.lock"
    assert lock.is_file()  # the file spec-kitty's FileLock uses, created where it looks for it
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        mover = shell.popen("wp", "move", "WP01", "--to", "in_progress", cwd=repo)
        assert wait_for(lambda: waiting_on(lock), 10), "the move did not queue behind the lock"
        row = {"actor": "claude", "at": datetime.now(UTC).isoformat(), "event_id": "01J0000000000000000000000Z",
               "evidence": None, "execution_mode": "worktree", "force": False, "from_lane": "planned",
               "mission_slug": SLUG, "policy_metadata": None, "reason": None, "review_ref": None,
               "to_lane": "claimed", "wp_id": "WP01"}
        with (folder / "status.events.jsonl").open("a") as log:  # spec-kitty writing under its lock
            log.write(json.dumps(row, sort_keys=True) + "\n")
    out, _ = mover.communicate(timeout=30)
    assert mover.returncode == 0, out
    assert out.startswith("WP01: claimed -> in_progress ("), out
