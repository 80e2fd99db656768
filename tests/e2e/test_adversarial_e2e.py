"""A careless operator against the real dev SaaS, through the installed command.

Given a logged-in operator whose repository config cannot hold a binding, when they bind, then the
command ends in one line before any server binding is made, and nothing is half-written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.projects import make_project
from support.shell import Shell

from devsaas.testing import DevSaas

pytestmark = pytest.mark.e2e


def test_bind_over_tracker_keys_that_are_not_tables_replaces_only_the_yaml_block(
        operator: Shell, saas: DevSaas, tmp_path: Path) -> None:
    """An old `tracker = "x"` in config.toml is no binding (left as it is); a `tracker: x` in config.yaml
    is replaced whole by the bind, as spec-kitty's `save_tracker_config` replaces it."""
    project = make_project(tmp_path / "odd-repo", ["001-a"])
    assert operator.run("auth", "login", "--host", saas.url, cwd=project).exit_code == 0
    config = project / ".kittify" / "config.toml"
    config.parent.mkdir()
    config.write_text('tracker = "x"\n')
    (project / ".kittify" / "config.yaml").write_text("# keep me\ntracker: x\n")
    ran = operator.run("tracker", "bind", cwd=project)
    assert ran.exit_code == 0, ran.describe()
    assert config.read_text() == 'tracker = "x"\n'
    text = (project / ".kittify" / "config.yaml").read_text()
    assert text.startswith("# keep me\ntracker:\n  provider: github\n"), text


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
    assert ran.exit_code == 0, ran.describe()
    assert "unexpected" not in ran.stdout + ran.stderr, ran.describe()
    assert "Traceback" not in ran.stderr, ran.describe()
