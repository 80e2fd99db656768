"""A careless operator against the real dev SaaS, through the installed command.

Given a logged-in operator whose repository config cannot hold a binding, when they bind, then the
command ends in one line before any server binding is made, and nothing is half-written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.projects import make_project
from support.shell import Shell

from devsaas.testing import DevSaas

pytestmark = pytest.mark.e2e


def test_bind_with_a_tracker_key_that_is_not_a_table_is_one_line_and_binds_nothing(
        operator: Shell, saas: DevSaas, tmp_path: Path) -> None:
    project = make_project(tmp_path / "odd-repo", ["001-a"])
    assert operator.run("auth", "login", "--host", saas.url, cwd=project).exit_code == 0
    config = project / ".kittify" / "config.toml"
    config.parent.mkdir()
    config.write_text('tracker = "x"\n')
    ran = operator.run("tracker", "bind", cwd=project)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        "", f"Error: `tracker` in {config} is not a table.\n", 1), ran.describe()
    assert config.read_text() == 'tracker = "x"\n'
    token = json.loads((operator.home / "auth.json").read_text())["sessions"].popitem()[1]["access_token"]
    status, _ = saas.request("GET", "/api/v1/projects/odd-repo/missions/001-a/binding", token=token)
    assert status == 404  # no server binding left behind without a local record of it


def test_sync_run_with_a_mission_log_that_is_a_fifo_ends_and_sends_nothing(
        operator: Shell, saas: DevSaas, tmp_path: Path) -> None:
    """Given a bound mission whose log was replaced by a FIFO, when the operator syncs, then the sync ends
    (no open waits for a writer that never comes) and the log is reported once, never read."""
    import os

    project = make_project(tmp_path / "fifo-repo", ["001-a"])
    assert operator.run("auth", "login", "--host", saas.url, cwd=project).exit_code == 0
    assert operator.run("tracker", "bind", cwd=project).exit_code == 0
    log = project / "kitty-specs" / "001-a" / "status.events.jsonl"
    log.unlink(missing_ok=True)
    os.mkfifo(log)
    ran = operator.run("sync", "run", cwd=project, timeout=30)
    assert ran.exit_code == 0 and "unexpected" not in ran.stdout + ran.stderr, ran.describe()
    assert "Traceback" not in ran.stderr, ran.describe()
