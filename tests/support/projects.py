"""Given-state builders: operator homes, spec-kitty projects, missions, auth and config files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MISSIONS = REPO / "tests" / "fixtures" / "missions"
EVENTS = "status.events.jsonl"


def fixture_missions(*, required: bool = True) -> list[Path]:
    """The real spec-kitty missions shipped beside this repository (inside a test: skip when absent)."""
    if not FIXTURE_MISSIONS.is_dir():  # pragma: no cover - the fixtures are vendored in tests/fixtures
        if required:
            pytest.skip(f"fixture missions not found at {FIXTURE_MISSIONS}")
        return []
    return sorted(p for p in FIXTURE_MISSIONS.iterdir() if (p / EVENTS).is_file())


def make_project(root: Path, missions: Iterable[str] = ()) -> Path:
    """A folder with ``kitty-specs/`` holding empty mission folders (no event log yet)."""
    (root / "kitty-specs").mkdir(parents=True, exist_ok=True)
    for slug in missions:
        (root / "kitty-specs" / slug).mkdir()
    return root


def copy_fixture(fixture: Path, project: Path) -> Path:
    """Copy a fixture mission into the project's ``kitty-specs/`` (writable, unlike the original)."""
    target = project / "kitty-specs" / fixture.name
    target.mkdir(parents=True)
    for name in (EVENTS, "status.json"):
        shutil.copyfile(fixture / name, target / name)
    return target


def transition(wp_id: str, to_lane: str, *, from_lane: str = "planned", event_id: str, slug: str,
               at: str = "2026-01-02T03:04:05+00:00", **extra: Any) -> dict[str, Any]:
    """A lane-transition row shaped like spec-kitty writes it."""
    row = {"actor": "tester", "at": at, "event_id": event_id, "evidence": None, "execution_mode": "direct_repo",
           "force": False, "from_lane": from_lane, "mission_id": None, "mission_slug": slug,
           "policy_metadata": None, "reason": None, "review_ref": None, "review_result": None,
           "to_lane": to_lane, "wp_id": wp_id}
    row.update(extra)
    return row


def write_log(mission: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    """Write an event log; a ``str`` row is written verbatim (for malformed lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r, sort_keys=True) for r in rows]
    path = mission / EVENTS
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def set_mtime(path: Path, when: float) -> None:
    os.utime(path, (when, when))


def git_init(folder: Path) -> Path:
    """``mkdir folder && cd folder && git init`` as the quickstart does."""
    if shutil.which("git") is None:  # pragma: no cover
        pytest.skip("git is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True,
                   env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
    return folder


def write_auth(home: Path, *, token: str = "tok-0123456789", server_url: str = "https://spec-kitty-dev.fly.dev",
               expires_at: str = "2099-01-01T00:00:00+00:00") -> Path:
    """What ``spec-kitty auth login`` leaves behind: auth.json (0600) with the session, as the device flow
    stores it (session id, the account from ``/api/v1/me`` and its teams)."""
    from orchestrator.sessions.store import origin

    home.mkdir(parents=True, exist_ok=True)
    path = home / "auth.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    session = {"access_token": token, "server_url": server_url, "expires_at": expires_at, "grant": "device",
               "login": "tester@example.invalid", "user_id": "tester@example.invalid", "name": "tester",
               "session_id": "sess-tester", "teams": [
                   {"id": "t-1", "name": "tester", "role": "owner", "slug": "tester-private",
                    "is_private_teamspace": True},
                   {"id": "dev-team", "name": "Dev Team", "role": "member", "slug": "dev-team",
                    "is_private_teamspace": False}]}
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"version": 2, "sessions": {origin(server_url): session}}, handle)
    return path


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def write_bindings(project: Path, *slugs: str) -> Path:
    """What ``tracker bind`` leaves in a project: the repository bound (its ``tracker:`` block in
    ``.kittify/config.yaml``, as spec-kitty writes it) to the dev host's ``github`` resource. ``slugs`` are
    ignored: a binding is the repository's, every mission syncs through it."""
    (project / ".kittify").mkdir(exist_ok=True)
    path = project / ".kittify" / "config.yaml"
    text = path.read_text() if path.exists() else ""
    path.write_text(text + "tracker:\n  provider: github\n  binding_ref: br_demo\n  project_slug: demo\n"
                    "  display_label: dev-saas/issues\n  provider_context:\n  workspace:\n  ownership:\n"
                    "    mode: spec_kitty_authoritative\n    field_owners: {}\n")
    return path


def write_legacy_bindings(project: Path, *slugs: str) -> Path:
    """The older layout of ``.kittify/config.toml`` (one ``[tracker] project``, a table per mission)."""
    (project / ".kittify").mkdir(exist_ok=True)
    text = '[tracker]\nproject = "demo"\n'
    for slug in slugs:
        text += (f'\n[tracker.missions."{slug}"]\nserver_url = "https://spec-kitty-dev.fly.dev"\n'
                 'binding_id = "b-1"\nbound_at = "2026-01-01T00:00:00+00:00"\n')
    path = project / ".kittify" / "config.toml"
    path.write_text(text)
    return path


def snapshot_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (to prove a command changed nothing)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
