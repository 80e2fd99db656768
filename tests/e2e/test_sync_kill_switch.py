"""Issue 10: the rollout flag is a kill switch. A daemon started while the flag was on is ended by the
next `spec-kitty` run with the flag off, which opens no socket and writes nothing itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import run_cli
from support.shell import Shell
from support.wait import wait_for

from devsaas.testing import DevSaas
from orchestrator.daemon.state import pid_alive

pytestmark = pytest.mark.e2e  # a dev SaaS and a daemon: real processes


def test_a_flag_off_help_ends_a_live_daemon_without_a_socket_or_a_write(operator: Shell, saas: DevSaas,
                                                                        repo: Path) -> None:
    assert operator.run("auth", "login", "--host", saas.url, cwd=repo).exit_code == 0
    assert operator.run("tracker", "bind", cwd=repo).exit_code == 0
    started = operator.run("tracker", "sync", "run", cwd=repo)
    assert started.exit_code == 0, started
    pid = json.loads((operator.home / "sync-daemon").read_text())["pid"]
    assert pid_alive(pid)
    try:
        ran = run_cli(["--help"], home=operator.home, cwd=repo)  # a fresh shell: the flag is unset
        assert ran.exit_code == 0, ran.describe()
        # no socket and no write: the one thing it did was signal the daemon
        assert [(e["kind"], e["event"], e["args"]) for e in ran.events] == [
            ("process", "os.kill", [str(pid), "15"])], ran.describe()
        wait_for(lambda: not pid_alive(pid), 10, step=0.05)  # waiting on another process to exit
        assert not pid_alive(pid)
    finally:
        if pid_alive(pid):
            operator.run("sync", "daemon", "stop", cwd=repo)
