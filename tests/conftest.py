"""Shared fixtures: an operator's throwaway home and a shell that runs the installed ``spec-kitty``.

Fixtures here are opt-in (no autouse) because suites owned by others live under ``tests/`` too. Test
modules import helpers from ``support``, never from this file (pytest may re-import ``conftest``).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest
from support.projects import write_auth, write_config
from support.shell import InProcessShell, Shell


def pytest_configure(config: pytest.Config) -> None:
    """A suite started where SIGINT is ignored (``cmd &`` from a script, nohup, some CI runners) would pass
    that on: an ignored signal stays ignored across fork and exec, so every command a test started would
    shrug off its Ctrl-C. Commands under test start as from a terminal, where SIGINT interrupts."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionstart(session: pytest.Session) -> None:
    """On a clean machine the reference client's venv takes tens of seconds to build: under xdist, begin at
    once in the controlling process, beside the workers' tests; the peer tier's fixture in a worker then waits
    on the build's lock. Never in a single process: its fixture would take the same process's lock again."""
    from support.peer_venv import ensure_reference_client, peer_venv_dir

    markexpr = session.config.option.markexpr or ""
    workers = getattr(session.config.option, "numprocesses", None)
    if not workers or hasattr(session.config, "workerinput") or "not peer" in markexpr or "not e2e" in markexpr:
        return
    if not (peer_venv_dir() / ".complete").exists():
        threading.Thread(target=ensure_reference_client, args=(peer_venv_dir(),), daemon=True).start()


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
