"""Many operators' commands racing to start the daemon end with exactly one daemon, and all succeed.

No wall-clock bound: on a loaded machine a racer may exhaust its budget before the daemon answers;
it then says so in one line and syncs in-process, which is the designed outcome, not a failure.
What must never happen is a second daemon, a failed command or an event stored twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from daemon_helpers import MISSION, Operator, project_uuid

from devsaas.testing import DevSaas

pytestmark = pytest.mark.e2e

RACERS = 20
FELL_BACK = ("The background sync daemon is unavailable (it did not answer within 4.5 seconds); "
             "syncing in this process instead.\n")


def test_concurrent_commands_share_exactly_one_daemon(ready: Operator, repo: Path,
                                                           daemon_saas: DevSaas) -> None:
    assert ready.run("wp", "move", "WP01", "--to", "planned", cwd=repo).exit_code == 0
    racers = [ready.popen("tracker", "sync", "run", cwd=repo) for _ in range(RACERS)]
    results = [(proc.communicate(timeout=60), proc.returncode) for proc in racers]

    assert [code for _, code in results] == [0] * RACERS, results
    head = f"Synced mission `{MISSION}` with {daemon_saas.url}: "
    assert all(out.startswith(head) and out.endswith(" 0 still queued.\n") for (out, _), _ in results), results
    assert sum(out.startswith(f"{head}1 pushed") for (out, _), _ in results) >= 1
    assert len(ready.settled_daemons()) == 1
    assert {err for (_, err), _ in results} <= {"", FELL_BACK}, results
    assert any(err == "" for (_, err), _ in results)  # the daemon served racers
    assert len(daemon_saas.row_ids(MISSION, project_uuid=project_uuid(repo))) == 1


def test_the_cli_side_stays_off_aiohttp_and_asyncio() -> None:
    """A command that finds a healthy daemon pays for a state file read and two loopback requests."""
    code = ("import sys, orchestrator.daemon.client, orchestrator.daemon.state, cli.hosted.daemon; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'asyncio', 'fasteners')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
