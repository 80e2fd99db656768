"""The daemon's life: replaced when stale, closed to callers without the secret, gone when idle,
and crash-safe: `kill -9` in the middle of an upload loses and doubles nothing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemon_helpers import MISSION, Operator, project_uuid
from support.wait import wait_for

from devsaas.testing import DevSaas
from orchestrator import __version__
from orchestrator.missions.ulid import new_ulid

pytestmark = pytest.mark.e2e

LANES = ["planned", "claimed", "in_progress", "for_review", "in_review", "approved", "done"]


def summary_ok(ran_stdout: str, saas: DevSaas, pushed: int | None = None) -> bool:
    head = f"Synced mission `{MISSION}` with {saas.url}: "
    return ran_stdout.startswith(head) and (pushed is None or ran_stdout.startswith(f"{head}{pushed} pushed"))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_state_file_of_a_dead_daemon_is_replaced(ready: Operator, repo: Path, daemon_saas: DevSaas) -> None:
    ready.home.mkdir(parents=True, exist_ok=True)
    ready.lock_file.touch()  # a crashed daemon leaves its lock file behind: it must not block anyone
    stale = {"pid": dead_pid(), "port": 9, "secret": "stale", "version": __version__, "started_at": "then"}
    ready.state_file.write_text(json.dumps(stale))
    assert ready.run("status", cwd=repo).stdout.splitlines()[-1] == "Sync daemon: not running"

    ran = ready.run("tracker", "sync", "run", cwd=repo)
    assert summary_ok(ran.stdout, daemon_saas), ran
    assert ran.stderr == "", ran
    assert ran.exit_code == 0, ran
    [pid] = ready.settled_daemons()
    state = ready.state()
    assert state is not None
    assert state["pid"] == pid != stale["pid"]
    assert state["secret"] != "stale"


def test_a_daemon_of_another_version_is_replaced_never_doubled(ready: Operator, repo: Path,
                                                               daemon_saas: DevSaas) -> None:
    # A real daemon process that reports an older version (as if left running by an older install).
    old = subprocess.Popen(
        [sys.executable, "-P", "-c", "import sys, orchestrator; orchestrator.__version__ = '0.0.1'; "
         "from orchestrator.daemon.__main__ import main; sys.exit(main())"],
        env=ready.full_env(), cwd=ready.user_home, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: (ready.state() or {}).get("pid") == old.pid, 10), ready.state()
        assert ready.state()["version"] == "0.0.1"  # type: ignore[index]

        ran = ready.run("tracker", "sync", "run", cwd=repo)
        assert summary_ok(ran.stdout, daemon_saas), ran
        assert ran.stderr == "", ran
        assert ran.exit_code == 0, ran
        assert old.wait(timeout=5) == 0  # it was asked to shut down, and did
        [pid] = ready.settled_daemons()
        state = ready.state()
        assert state is not None
        assert state["pid"] == pid != old.pid
        assert state["version"] == __version__
    finally:
        if old.poll() is None:
            old.kill()
            old.wait()


def test_the_control_endpoint_refuses_callers_without_the_secret(ready: Operator, repo: Path) -> None:
    assert ready.run("tracker", "sync", "run", cwd=repo).exit_code == 0
    state = ready.state()
    assert state is not None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    base = f"http://127.0.0.1:{state['port']}"

    def status_of(method: str, path: str, auth: str | None) -> int:
        request = urllib.request.Request(base + path, method=method, data=b"{}" if method == "POST" else None)
        if auth is not None:
            request.add_header("Authorization", auth)
        try:
            with opener.open(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as err:
            err.close()
            return err.code

    for method, path in (("GET", "/health"), ("GET", "/status"), ("POST", "/sync"), ("GET", "/jobs/1"),
                         ("POST", "/shutdown")):
        for auth in (None, "Bearer wrong", f"Basic {state['secret']}", state["secret"]):
            assert status_of(method, path, auth) == 401, (method, path, auth)
    assert ready.daemons() == [state["pid"]]  # still running: the shutdown without the secret did nothing
    assert status_of("GET", "/health", f"Bearer {state['secret']}") == 200


def test_a_daemon_retires_on_its_own_and_leaves_only_its_lock_file(ready: Operator, repo: Path) -> None:
    """Retiring by itself (here: the policy turned manual; idle retirement takes the same path and is
    checked on an injected clock in test_daemon_schedule) removes exactly its own files."""
    assert ready.run("tracker", "sync", "run", cwd=repo).exit_code == 0
    [pid] = ready.settled_daemons()
    assert ready.run("config", "set", "sync.background_daemon", "manual", cwd=repo).exit_code == 0
    assert wait_for(lambda: not ready.daemons(), 30, step=0.05), "the daemon did not retire"
    assert not ready.state_file.exists()  # the lock file stays: never unlinked, as spec-kitty never unlinks it
    assert "retiring: the policy is now manual" in ready.log_file.read_text()
    assert ready.run("sync", "daemon", "status", cwd=repo).stdout == "Sync daemon: not running\n"
    assert pid not in ready.daemons()


def write_events(repo: Path, count: int) -> set[str]:
    """Append ``count`` lane transitions to the mission's log, as `spec-kitty wp move` would."""
    log = repo / "kitty-specs" / MISSION / "status.events.jsonl"
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    ids = set()
    with log.open("a") as out:
        for n in range(count):
            event_id = new_ulid()
            ids.add(event_id)
            row = {"event_id": event_id, "mission_slug": MISSION, "wp_id": f"WP{n % 40 + 1:02d}",
                   "from_lane": LANES[n % 7], "to_lane": LANES[(n + 1) % 7], "at": now, "actor": "bench",
                   "force": False, "execution_mode": "worktree", "reason": None, "evidence": None}
            out.write(json.dumps(row, sort_keys=True) + "\n")
    return ids


def test_kill_9_during_an_upload_loses_and_doubles_nothing(ready: Operator, repo: Path,
                                                           daemon_saas: DevSaas) -> None:
    assert ready.run("tracker", "sync", "run", cwd=repo).exit_code == 0  # a daemon is up before the upload
    [victim] = ready.settled_daemons()
    ids = write_events(repo, 30000)
    before = daemon_saas.stats()["envelopes"]  # the dev SaaS is shared by the suite: count from here

    first = ready.popen("tracker", "sync", "run", cwd=repo)
    assert wait_for(lambda: daemon_saas.stats()["envelopes"] > before, 30, step=0.005)
    os.kill(victim, signal.SIGKILL)
    stored_at_kill = daemon_saas.stats()["envelopes"] - before
    out, err = first.communicate(timeout=120)
    # The waiting command noticed within seconds and still finished: through a daemon it started anew
    # (if the kill cut its first request) or in-process (if it cut a later poll), saying so in one line.
    assert first.returncode == 0, (out, err)
    assert err in ("", "The background sync daemon is unavailable (it stopped answering); "
                       "syncing in this process instead.\n")
    assert out.endswith(" still queued.\n")
    assert 0 < stored_at_kill < len(ids)  # the kill did land in the middle of the upload

    ran = ready.run("tracker", "sync", "run", cwd=repo)  # the stale lock file blocks nobody
    assert ran.exit_code == 0, ran
    assert ran.stderr == "", ran
    assert ran.stdout.endswith(" 0 still queued.\n"), ran
    [successor] = ready.settled_daemons()
    assert successor != victim
    assert (ready.state() or {}).get("pid") == successor

    stored = daemon_saas.row_ids(MISSION, project_uuid=project_uuid(repo))
    assert len(stored) == len(set(stored)) == len(ids)
    assert set(stored) == ids


def test_a_hung_daemon_is_replaced_within_the_time_bound(ready: Operator, repo: Path, daemon_saas: DevSaas) -> None:
    assert ready.run("tracker", "sync", "run", cwd=repo).exit_code == 0
    [hung] = ready.settled_daemons()
    os.kill(hung, signal.SIGSTOP)  # alive, holding the lock, answering nothing
    try:
        ran = ready.run("tracker", "sync", "run", cwd=repo)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung, signal.SIGCONT)
    assert summary_ok(ran.stdout, daemon_saas), ran
    assert ran.exit_code == 0, ran
    assert ran.stderr in ("", "The background sync daemon is unavailable (it did not answer within 4.5 seconds); "
                              "syncing in this process instead.\n")
    assert wait_for(lambda: hung not in ready.daemons(), 5)  # killed: the OS said it held the lock
    assert ready.run("tracker", "sync", "run", cwd=repo).stderr == ""
    assert len(ready.settled_daemons()) == 1


def test_a_daemon_that_cannot_start_falls_back_to_a_one_shot_sync(ready: Operator, repo: Path,
                                                                  daemon_saas: DevSaas) -> None:
    ready.lock_file.mkdir(parents=True)  # the daemon cannot open its lock: it exits at once, every time
    assert ready.run("wp", "move", "WP01", "--to", "planned", cwd=repo).exit_code == 0
    ran = ready.run("tracker", "sync", "run", cwd=repo)
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        f"Synced mission `{MISSION}` with {daemon_saas.url}: 1 pushed, 0 pulled, 0 still queued.\n",
        "The background sync daemon is unavailable (it exited right after starting; see the daemon log); "
        "syncing in this process instead.\n", 0)
    assert "cannot take the daemon lock" in ready.log_file.read_text()
    assert ready.daemons() == []
