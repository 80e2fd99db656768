"""Scenario 3 of the quickstart (manual daemon policy), literally, through the installed `spec-kitty`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from daemon_helpers import MISSION, Operator, project_uuid
from support.wait import wait_for

from devsaas.testing import DevSaas
from orchestrator import __version__

pytestmark = pytest.mark.e2e

MANUAL_MESSAGE = (
    'Background sync is in manual mode (`[sync].background_daemon = "manual"`).\n'
    "Run `spec-kitty sync run` to perform a one-shot remote sync.\n"
)


def test_scenario_3_manual_policy_then_auto(ready: Operator, repo: Path, daemon_saas: DevSaas) -> None:
    # 1. Set policy to manual
    assert ready.run("config", "set", "sync.background_daemon", "manual", cwd=repo).exit_code == 0

    # 2. Help and local-only commands still do not start the daemon (nor open a socket)
    for args in (("--help",), ("status",)):
        ran = ready.run(*args, cwd=repo)
        assert ran.exit_code == 0, ran.describe()
        assert not ran.of_kind("process"), ran.describe()
        assert not ran.of_kind("network"), ran.describe()
        assert "Sync daemon" not in ran.stdout
    assert not ready.lock_file.exists()

    # 3. A REMOTE_REQUIRED tracker command yields the manual-mode message, exit 0, no socket, no process
    ran = ready.run("tracker", "sync", "run", cwd=repo)
    assert (ran.stdout, ran.exit_code) == (MANUAL_MESSAGE, 0), ran.describe()
    assert not ran.of_kind("process"), ran.describe()
    assert not ran.of_kind("network"), ran.describe()
    assert not ready.lock_file.exists()
    assert not ready.state_file.exists()
    assert ready.daemons() == []

    # 4. Switch back to auto: the daemon spawns on a remote command and the summary is printed
    assert ready.run("config", "set", "sync.background_daemon", "auto", cwd=repo).exit_code == 0
    ran = ready.run("tracker", "sync", "run", cwd=repo)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        f"Synced mission `{MISSION}` with {daemon_saas.url}: 0 pushed, 0 pulled, 0 still queued.\n", "", 0)
    assert ready.lock_file.exists()
    [pid] = ready.settled_daemons()
    state = ready.state()
    assert state is not None
    assert (state["pid"], state["version"]) == (pid, __version__)
    assert stat.S_IMODE(ready.state_file.stat().st_mode) == 0o600
    # Detached from the terminal and from the checkout: own session, cwd at the home folder.
    assert os.getsid(pid) == pid
    assert Path(os.readlink(f"/proc/{pid}/cwd")) == ready.user_home

    status = ready.run("status", cwd=repo)
    assert status.exit_code == 0
    assert status.stdout.splitlines()[-1].startswith(f"Sync daemon: running (pid {pid}, version {__version__}, up ")


def test_sync_disable_switch_never_starts_a_daemon(ready: Operator, repo: Path) -> None:
    ran = ready.run("tracker", "sync", "run", cwd=repo, env={"SPEC_KITTY_SYNC_DISABLE": "1"})
    assert (ran.stdout, ran.exit_code) == (
        "Background sync is disabled by `SPEC_KITTY_SYNC_DISABLE`.\n"
        "Run `spec-kitty sync run` to perform a one-shot remote sync.\n", 0)
    assert not ready.lock_file.exists()
    assert ready.daemons() == []


def test_one_shot_sync_run_never_starts_a_daemon(ready: Operator, repo: Path) -> None:
    assert ready.run("sync", "run", cwd=repo).exit_code == 0
    assert not ready.lock_file.exists()
    assert ready.daemons() == []


def test_moves_are_synced_through_the_daemon_and_it_is_reused(ready: Operator, repo: Path,
                                                              daemon_saas: DevSaas) -> None:
    for wp, lane in (("WP01", "planned"), ("WP02", "planned"), ("WP01", "claimed")):
        assert ready.run("wp", "move", wp, "--to", lane, cwd=repo).exit_code == 0
    first = ready.run("tracker", "sync", "run", cwd=repo)
    assert (first.stdout, first.exit_code) == (
        f"Synced mission `{MISSION}` with {daemon_saas.url}: 3 pushed, 0 pulled, 0 still queued.\n", 0), first
    [pid] = ready.settled_daemons()
    log = repo / "kitty-specs" / MISSION / "status.events.jsonl"
    ids = [json.loads(line)["event_id"] for line in log.read_text().splitlines()]
    assert daemon_saas.row_ids(MISSION, project_uuid=project_uuid(repo)) == ids

    second = ready.run("tracker", "sync", "run", cwd=repo)
    assert second.stdout.endswith(": 0 pushed, 0 pulled, 0 still queued.\n")
    assert second.exit_code == 0
    assert ready.daemons() == [pid]  # the running daemon served it: no respawn

    shown = ready.run("sync", "daemon", "status", cwd=repo)
    lines = shown.stdout.splitlines()
    assert shown.exit_code == 0
    assert lines[0].startswith(f"Sync daemon: running (pid {pid}, version {__version__}, up ")
    assert (lines[1], lines[3]) == ("Queued events: 0.", "Last error: none.")
    assert lines[2].startswith("Last sync: ")
    assert lines[2].endswith(
        f", mission `{MISSION}`: 0 pushed, 0 pulled, 0 still queued.")
    assert f"Keeping in sync: mission `{MISSION}` in {repo}" in shown.stdout

    (session,) = json.loads((ready.home / "auth.json").read_text())["sessions"].values()  # one per host
    token = session["access_token"]
    assert wait_for(ready.log_file.exists, 2)
    for text in (ready.log_file.read_text(), ready.state_file.read_text(), shown.stdout, first.stdout + first.stderr):
        assert token not in text


def test_daemon_status_and_stop_are_idempotent(ready: Operator, repo: Path) -> None:
    assert ready.run("sync", "daemon", "status", cwd=repo).stdout == "Sync daemon: not running\n"
    assert ready.run("sync", "daemon", "stop", cwd=repo).stdout == "Sync daemon is not running; nothing to stop.\n"
    assert ready.run("tracker", "sync", "run", cwd=repo).exit_code == 0
    [pid] = ready.settled_daemons()
    stopped = ready.run("sync", "daemon", "stop", cwd=repo)
    assert (stopped.stdout, stopped.exit_code) == (f"Sync daemon stopped (pid {pid}).\n", 0)
    assert ready.daemons() == []
    assert not ready.state_file.exists()  # the lock file stays (never unlinked, as spec-kitty's)
    again = ready.run("sync", "daemon", "stop", cwd=repo)
    assert (again.stdout, again.exit_code) == ("Sync daemon is not running; nothing to stop.\n", 0)
    assert "Sync daemon" not in ready.run("status", cwd=repo).stdout  # no state file: no line, no network
