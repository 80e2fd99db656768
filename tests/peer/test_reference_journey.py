"""The reference client's journey against the dev SaaS: spec-kitty-cli 3.2.7, unchanged, is the judge.

Given a real spec-kitty project built with the reference client's own commands, in a scratch HOME,
with SaaS sync enabled and the dev SaaS on loopback: login on the verification page, ``auth status``,
``auth doctor --server``, ``sync opt-in`` + lane moves + ``sync now`` twice, ``sync status --check``
and ``auth logout`` each exit 0, and after each the server holds what that step should have left
there. The steps share one server, one project and one login (module fixtures), in the order an
operator runs them; each test still asks for exactly the fixtures its step needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from speckitty import Warm

from devsaas.testing import DevSaas

pytestmark = pytest.mark.peer

STEP_TIMEOUT = 180.0  # one reference command; generous for a loaded CI box
EMAIL = "dev@dev-saas.spec-kitty.invalid"
WP_FILE = """---
work_package_id: "{wp}"
title: "Work package {wp}"
dependencies: []
subtasks: []
---
# {wp}
"""


@dataclass
class Ran:
    code: int
    out: str  # stdout and stderr together, as the operator sees them

    def ok(self) -> Ran:
        assert self.code == 0, self.out
        return self


@dataclass
class Journey:
    """One operator's machine: the reference client, a scratch HOME, a repository, the dev SaaS."""

    saas: DevSaas
    bin: Path
    home: Path
    repo: Path
    env: dict[str, str]
    slug: str = ""
    project_uuid: str = ""
    session_id: str = ""
    moves: list[tuple[str, str]] = field(default_factory=list)
    warm: Warm | None = None

    def command(self, *args: str) -> list[str]:
        return [str(self.bin / "spec-kitty"), *args]

    def run(self, *args: str, env: dict[str, str] | None = None) -> Ran:
        if self.warm is None:
            self.warm = Warm(self.bin, self.env)
        code, out, _ = self.warm.run(args, cwd=self.repo, env={**self.env, **(env or {})}, merged=True,
                                     timeout=STEP_TIMEOUT)
        return Ran(code, out)

    def git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.repo, env=self.env, check=True, capture_output=True,
                       timeout=STEP_TIMEOUT)

    def lane_rows(self) -> list[dict[str, Any]]:
        """The mission's lane transitions, as the reference client wrote them to its log."""
        log = self.repo / "kitty-specs" / self.slug / "status.events.jsonl"
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        return [row for row in rows if "to_lane" in row]


def _scratch_env(home: Path, url: str) -> dict[str, str]:
    """The operator's environment: nothing of this test process's spec-kitty settings leaks in."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SPEC_KITTY_", "GIT_")) and key.lower() not in ("http_proxy", "https_proxy")}
    env.update({
        "HOME": str(home),
        "SPEC_KITTY_ENABLE_SAAS_SYNC": "1",
        "SPEC_KITTY_SAAS_URL": url,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "GIT_AUTHOR_NAME": "Peer", "GIT_AUTHOR_EMAIL": "peer@example.invalid",
        "GIT_COMMITTER_NAME": "Peer", "GIT_COMMITTER_EMAIL": "peer@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "PYTHONUNBUFFERED": "1",  # the login's device code must reach us while it waits
        "NO_COLOR": "1",
        "COLUMNS": "200",  # one line per message: rich wraps at the terminal width
    })
    return env


@pytest.fixture(scope="module")
def journey(saas: DevSaas, reference_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Journey:
    """A project the reference client can sync, built by its own commands (shared/spec/saas-protocol.md).

    ``mission create`` runs with ``SPEC_KITTY_SYNC_DISABLE=1``: without it the reference client waits
    ~20 s on its own project-store lock (observed; nothing reaches the server either way), and the
    mission is the same.
    """
    return new_project(saas, reference_bin, tmp_path_factory.mktemp("peer"))


def new_project(saas: DevSaas, reference_bin: Path, root: Path) -> Journey:
    """A git repository under ``root`` laid out by the reference client's own ``init`` and ``agent mission
    create``, with two work packages committed, and a scratch home whose daemon policy is manual."""
    home, repo = root / "home", root / "repo"
    (home / ".spec-kitty").mkdir(parents=True)
    (home / ".spec-kitty" / "config.toml").write_text('[sync]\nbackground_daemon = "manual"\n')
    repo.mkdir()
    j = Journey(saas, reference_bin, home, repo, _scratch_env(home, saas.url))
    j.git("init", "-q", "-b", "main")
    j.run("init", "--ai", "claude", "--non-interactive").ok()
    j.git("add", "-A")
    j.git("commit", "-q", "-m", "spec-kitty init")
    created = j.run("agent", "mission", "create", "demo", "--topology", "single_branch", "--start-branch",
                    "feat/demo", "--json", env={"SPEC_KITTY_SYNC_DISABLE": "1"}).ok()
    j.slug = json.loads(created.out[created.out.index("{"):])["mission_slug"]
    for wp in ("WP01", "WP02"):
        (repo / "kitty-specs" / j.slug / "tasks" / f"{wp}-x.md").write_text(WP_FILE.format(wp=wp))
    j.git("add", "-A")
    j.git("commit", "-q", "-m", "work packages")
    j.project_uuid = str(YAML(typ="safe").load((repo / ".kittify" / "config.yaml").read_text())["project"]["uuid"])
    return j


def _login_on_the_page(j: Journey) -> Ran:
    """``auth login --headless`` while a person approves the code it shows on the verification page."""
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []
    with subprocess.Popen(j.command("auth", "login", "--headless"), cwd=j.repo, env=j.env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:

        def drain() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            while (line := lines.get(timeout=STEP_TIMEOUT)) is not None:
                seen.append(line)
                code = re.search(r"Code:\s+([A-Z0-9]{4}(?:-[A-Z0-9]{4})+)", line)
                if code:
                    assert "Approved" in j.saas.approve_on_page(code.group(1), login="dev")
            proc.wait(timeout=STEP_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
            reader.join(timeout=10)
    return Ran(proc.returncode, "".join(seen))


@pytest.fixture(scope="module")
def logged_in(journey: Journey) -> Ran:
    ran = _login_on_the_page(journey).ok()
    [session] = journey.saas.sessions()
    journey.session_id = session["session_id"]
    return ran


@pytest.fixture(scope="module")
def synced(journey: Journey, logged_in: Ran) -> Ran:
    """Opted in, three lane moves, one ``sync now``."""
    journey.run("sync", "opt-in").ok()
    for wp, lane in (("WP01", "planned"), ("WP02", "planned"), ("WP01", "claimed")):
        journey.run("agent", "status", "emit", wp, "--to", lane, "--actor", "claude", "--mission", journey.slug).ok()
        journey.moves.append((wp, lane))
    return journey.run("sync", "now").ok()


def test_login_headless_approved_on_the_verification_page(journey: Journey, logged_in: Ran) -> None:
    assert f"Authenticated as {EMAIL}" in logged_in.out
    [session] = journey.saas.sessions()
    assert (session["login"], session["revoked_at"]) == ("dev", None)
    requests = journey.saas.stats()["requests"]
    assert requests["oauth_device"] == 1
    assert requests["me"] >= 1


def test_auth_status_shows_what_the_server_said(journey: Journey, logged_in: Ran) -> None:
    out = journey.run("auth", "status").ok().out
    assert EMAIL in out
    assert "dev-private" in out
    assert "dev-team" in out
    assert f"Session ID:     {journey.session_id}" in out


def test_auth_doctor_server_finds_the_session_active(journey: Journey, logged_in: Ran) -> None:
    before = journey.saas.stats()["requests"].get("session_status", 0)
    out = journey.run("auth", "doctor", "--server").ok().out
    assert f"active (session: {journey.session_id})" in out
    assert journey.saas.stats()["requests"]["session_status"] == before + 1


def test_sync_now_stores_every_lane_move_once(journey: Journey, synced: Ran) -> None:
    stored = journey.saas.envelopes(project_uuid=journey.project_uuid)
    ids = [envelope["event_id"] for envelope in stored]
    assert len(ids) == len(set(ids))
    delivered = re.search(r"delivered (\d+)", synced.out)
    assert delivered is not None, synced.out
    assert int(delivered.group(1)) == len(stored)

    moves = [e for e in stored if e["event_type"] == "WPStatusChanged"]
    rows = journey.lane_rows()
    assert sorted(e["causation_id"] for e in moves) == sorted(row["event_id"] for row in rows)
    assert [(e["aggregate_id"], e["payload"]["to_lane"]) for e in moves] == journey.moves
    assert {e["team_slug"] for e in moves} == {"dev-private"}
    assert {e["event_type"] for e in stored} > {"WPStatusChanged"}  # the other event types are kept too


def test_sync_now_pushes_artifact_bodies_that_match_the_repository(journey: Journey, synced: Ran) -> None:
    bodies = journey.saas.dossier_bodies(journey.project_uuid)
    assert bodies, "sync now pushed no artifact body"
    for body in bodies:
        assert body["mission_slug"] == journey.slug
        on_disk = (journey.repo / "kitty-specs" / journey.slug / body["artifact_path"]).read_bytes()
        assert hashlib.sha256(on_disk).hexdigest() == body["content_hash"]


def test_a_second_sync_now_sends_nothing_new(journey: Journey, synced: Ran) -> None:
    """``--no-strict``: under its default ``--strict`` the reference client exits 1 whenever it selects
    nothing while its journal still retains events, delivered ones included, whatever the host says
    (specify_cli/sync/sync_dispatch_core.py ``decide_sync_now_exit``: "a zero-selection summary does
    not prove the canonical store is empty"). The server's part, storing nothing new, is the same."""
    before = journey.saas.envelopes(project_uuid=journey.project_uuid)
    batches = journey.saas.stats()["requests"]["events_batch"]
    out = journey.run("sync", "now", "--no-strict").ok().out
    assert "delivered 0" in out
    assert "(selected 0)" in out
    assert journey.saas.envelopes(project_uuid=journey.project_uuid) == before
    assert journey.saas.stats()["requests"]["events_batch"] == batches  # nothing was even posted


def test_sync_status_check_reaches_the_health_probe(journey: Journey, synced: Ran) -> None:
    before = journey.saas.stats()["requests"].get("sync_health", 0)
    out = journey.run("sync", "status", "--check").ok().out
    assert "Server reachable, authentication valid." in out
    assert journey.saas.stats()["requests"]["sync_health"] == before + 1


def test_auth_logout_revokes_the_session_on_the_server(journey: Journey, logged_in: Ran) -> None:
    out = journey.run("auth", "logout").ok().out
    assert "Server revocation confirmed" in out
    assert journey.saas.stats()["requests"]["oauth_revoke"] == 1
    [session] = journey.saas.sessions()
    assert session["session_id"] == journey.session_id
    assert session["revoked_at"] is not None
