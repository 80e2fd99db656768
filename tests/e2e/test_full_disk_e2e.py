"""Issue 16 item 1: a full disk never hides behind a success.

Given a mission log and a file system that takes only part of the next row (here a file size limit,
``RLIMIT_FSIZE``, set for the child alone: ``os.write`` then returns short, as on a full disk), when
``wp move`` runs, then it prints one line saying the disk is full, exits 1, and the log is exactly as
it was (no torn half line), with no status.json written for a row that does not exist.
"""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

import pytest
from support.cli import SPEC_KITTY
from support.projects import git_init
from support.shell import Shell

pytestmark = pytest.mark.e2e


def test_a_move_that_does_not_fit_is_not_recorded(tmp_path: Path) -> None:
    repo = git_init(tmp_path / "repo")
    folder = repo / "kitty-specs" / "001-demo"
    folder.mkdir(parents=True)
    shell = Shell(tmp_path)
    assert shell.run("wp", "move", "WP01", "--to", "planned", cwd=repo).exit_code == 0
    log = folder / "status.events.jsonl"
    before, snapshot = log.read_bytes(), (folder / "status.json").read_bytes()
    limit = len(before) + 40  # room for 40 bytes of a ~370-byte row

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a short write, not a kill, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([str(SPEC_KITTY), "wp", "move", "WP01", "--to", "claimed"], cwd=repo, env=shell.full_env(),
                          capture_output=True, text=True, timeout=60, preexec_fn=cap)
    assert (done.stdout, done.returncode) == ("", 1)
    assert done.stderr == (f"Error: The disk is full: the move was not recorded and {log} is unchanged "
                           "(File too large).\n")
    assert log.read_bytes() == before
    assert (folder / "status.json").read_bytes() == snapshot
