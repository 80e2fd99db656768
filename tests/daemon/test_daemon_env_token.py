"""Issue 16 item 3: one host's token never reaches another through the daemon.

Given an operator logged in and bound on a real dev SaaS, when `tracker sync run` runs with the token in
`SPEC_KITTY_SAAS_TOKEN`, then that job runs in the command's own process (one line says why) and no
daemon holds the token; a daemon later started by a command without it does not hold it either, so a
sync it runs for another host can never carry it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_helpers import MISSION, Operator, _proc_env

from devsaas.testing import DevSaas

pytestmark = pytest.mark.e2e

TOKEN_VAR = "SPEC_KITTY_SAAS_TOKEN"


def test_a_command_with_an_env_token_syncs_in_process_and_no_daemon_inherits_it(
        ready: Operator, repo: Path, daemon_saas: DevSaas) -> None:
    env_token = daemon_saas.issue_token("daemon-tester")  # the same login, its own token
    ran = ready.run("tracker", "sync", "run", cwd=repo, env={TOKEN_VAR: env_token})
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        f"Synced mission `{MISSION}` with {daemon_saas.url}: 0 pushed, 0 pulled, 0 still queued.\n",
        "The background sync daemon is unavailable (`SPEC_KITTY_SAAS_TOKEN` is set, and a token from the "
        "environment never leaves this process); syncing in this process instead.\n", 0), ran.describe()
    for pid in ready.daemons():  # none was asked; if one runs it must not hold the token
        assert TOKEN_VAR not in _proc_env(str(pid))
    assert ready.daemons() == []

    again = ready.run("tracker", "sync", "run", cwd=repo)  # no env token: the daemon serves it
    assert again.exit_code == 0, again.describe()
    assert again.stderr == "", again.describe()
    [pid] = ready.settled_daemons()
    assert TOKEN_VAR not in _proc_env(str(pid))
