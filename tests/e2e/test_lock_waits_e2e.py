"""Issue 16 item 7 through the installed command: one host's stuck refresh never holds up another host.

Given sessions for two real dev SaaS hosts A and B, B's expired (a refresh is due) and B stopped (it
accepts connections, so the probe passes, but never answers), when a `sync run` for B is refreshing,
then `auth logout --host A` and `auth status` finish at once (they used to wait behind B's refresh),
and a second refresh for B waits a bounded time and names the process holding B's lock.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.shell import Shell
from support.wait import wait_for

from devsaas.testing import DevSaas, start_dev_saas
from orchestrator.daemon.state import lock_holder
from orchestrator.sessions.store import origin

pytestmark = pytest.mark.e2e


@pytest.fixture
def host_b(tmp_path: Path) -> Iterator[DevSaas]:
    with start_dev_saas(auto_approve=True, db=tmp_path / "b.sqlite3") as handle:
        yield handle


def test_a_stuck_refresh_for_one_host_never_blocks_another_hosts_commands(
        operator: Shell, saas: DevSaas, host_b: DevSaas, repo: Path) -> None:
    operator.env["SPEC_KITTY_SAAS_URL"] = host_b.url
    operator.log_in_and_bind(host_b.url, repo)
    del operator.env["SPEC_KITTY_SAAS_URL"]
    login_a = operator.run("auth", "login", "--host", saas.url, cwd=repo)
    assert login_a.exit_code == 0, login_a.describe()
    auth = operator.home / "auth.json"
    stored = json.loads(auth.read_text())
    grant = host_b.issue_session("dev")
    stored["sessions"][origin(host_b.url)].update(access_token=grant["access_token"],
                                                  refresh_token=grant["refresh_token"],
                                                  expires_at="2000-01-01T00:00:00+00:00")
    auth.write_text(json.dumps(stored))
    env = {"SPEC_KITTY_SAAS_URL": host_b.url, "SPEC_KITTY_SYNC_DEADLINE": "60"}
    os.kill(host_b.pid, signal.SIGSTOP)
    operator.env.update(env)
    refreshing = operator.popen("sync", "run", cwd=repo)
    for key in env:
        del operator.env[key]
    try:
        locks = lambda: [p for p in operator.home.glob(".auth.json*.lock")  # noqa: E731
                         if lock_holder(p) == refreshing.pid]
        assert wait_for(locks, 20), "the refresh for B never took a lock"

        out = operator.run("auth", "logout", "--host", saas.url, cwd=repo, timeout=15)
        assert (out.stdout, out.exit_code) == (f"Logged out of {saas.url}.\n", 0), out.describe()

        again = operator.run("sync", "run", cwd=repo, env={**env, "SPEC_KITTY_SYNC_DEADLINE": "1"}, timeout=15)
        [held] = locks()
        assert (again.stderr, again.exit_code) == (  # 5 s, plus its own call deadline (1 s here)
            f"Error: {held} is held by process {refreshing.pid} for more than 6 seconds; "
            "retry once it is done (or end it).\n", 1), again.describe()
    finally:
        refreshing.kill()
        refreshing.communicate()
        os.kill(host_b.pid, signal.SIGCONT)
