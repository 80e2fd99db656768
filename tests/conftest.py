"""Shared fixtures: an operator's throwaway home and a shell that runs the installed ``spec-kitty``.

Fixtures here are opt-in (no autouse) because suites owned by others live under ``tests/`` too. Test
modules import helpers from ``support``, never from this file (pytest may re-import ``conftest``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.projects import write_auth, write_config
from support.shell import InProcessShell, Shell


@pytest.fixture
def shell(request: pytest.FixtureRequest, tmp_path: Path) -> Shell:
    """A fresh operator shell with the rollout flag unset.

    In a module that sets ``IN_PROCESS = True`` (its tests look only at output, exit code and files) each
    command runs in this process, through the console script's own entry (``support.inprocess``); a test
    there that asserts on what the process did (sockets, processes, writes seen by the stealth guard) is
    marked ``@pytest.mark.guarded`` and runs the installed console script, as everywhere else."""
    if getattr(request.module, "IN_PROCESS", False) and request.node.get_closest_marker("guarded") is None:
        return InProcessShell(tmp_path)
    return Shell(tmp_path)


@pytest.fixture
def tester(shell: Shell) -> Shell:
    """An internal tester: flag on, logged in, host configured (the state after Scenario 2 step 4)."""
    shell.flag("1")
    write_auth(shell.home)
    write_config(shell.home, '[sync]\nserver_url = "https://spec-kitty-dev.fly.dev"\n')
    return shell
