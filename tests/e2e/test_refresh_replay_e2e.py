"""Issue 16 item 8 through the installed command: a lost refresh answer does not cost the session.

Given a session due for refresh whose refresh the host already performed (the rotated tokens never reached
the client: a delay, a kill -9), when the next command refreshes with the used refresh token, then inside the
host's replay grace window (``409 refresh_replay_benign_retry``) it carries on with the access token still in
hand; outside it the host refuses the token and the command says plainly that a new login is needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.projects import git_init, transition, write_log
from support.shell import Shell

from devsaas.testing import DevSaas, start_dev_saas
from orchestrator.missions.ulid import new_ulid
from states import catalog

pytestmark = pytest.mark.e2e


def store(operator: Shell, url: str, issued: dict[str, str]) -> None:
    """The session as the device flow stores it, due for refresh (its access token lives 30 s)."""
    from orchestrator.sessions.store import origin

    operator.home.mkdir(mode=0o700, exist_ok=True)
    session = {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"],
               "server_url": url, "expires_at": issued["expires_at"], "grant": "device",
               "login": "dev@dev-saas.spec-kitty.invalid", "session_id": issued.get("session_id", "s"),
               "teams": [{"id": "dev-private", "slug": "dev-private", "is_private_teamspace": True}]}
    fd = os.open(operator.home / "auth.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"version": 2, "sessions": {origin(url): session}}, handle)
    (operator.home / "config.toml").write_text(f'[sync]\nserver_url = "{url}"\nbackground_daemon = "manual"\n')


def lose_the_answer(saas: DevSaas, refresh_token: str) -> None:
    """The host rotates the refresh token; its answer goes nowhere."""
    status, _ = saas.request("POST", "/oauth/token", form={"grant_type": "refresh_token", "client_id": "cli_native",
                                                           "refresh_token": refresh_token})
    assert status == 200


def repo_with_a_move(root: Path) -> Path:
    """A repository with one lane row to send: the command has to talk to the host."""
    folder = git_init(root) / "kitty-specs" / "001-demo"
    folder.mkdir(parents=True)
    write_log(folder, [transition("WP01", "planned", from_lane="genesis", event_id=new_ulid(), slug=folder.name)])
    return root


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[DevSaas]:
    """A dev SaaS with no replay grace window: a used refresh token is refused at once."""
    with start_dev_saas(db=tmp_path / "strict.sqlite3", extra_args=["--refresh-grace", "0"]) as handle:
        yield handle


def test_inside_the_grace_window_the_command_carries_on(operator: Shell, saas: DevSaas, tmp_path: Path) -> None:
    repo = repo_with_a_move(tmp_path / "repo")
    issued = saas.issue_session("dev", expires_in=30)
    store(operator, saas.url, issued)
    lose_the_answer(saas, issued["refresh_token"])
    ran = operator.run("sync", "run", cwd=repo)
    assert ran.exit_code == 0, ran.describe()
    assert saas.stats()["requests"]["oauth_token"] == 2  # the lost one, and ours answered 409
    assert len(saas.row_ids("001-demo")) == 1  # sent with the access token still in hand


def test_outside_it_the_command_says_a_new_login_is_needed(operator: Shell, strict: DevSaas, tmp_path: Path) -> None:
    repo = repo_with_a_move(tmp_path / "repo")
    issued = strict.issue_session("dev", expires_in=30)
    store(operator, strict.url, issued)
    lose_the_answer(strict, issued["refresh_token"])
    ran = operator.run("sync", "run", cwd=repo)
    assert (ran.stdout, ran.exit_code) == (catalog.SESSION_EXPIRED.render() + "\n", 1), ran.describe()
