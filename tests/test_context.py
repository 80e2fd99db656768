"""One context per invocation: a test sets the clock and the SaaS client the commands see.

Given an operator's home with a session that expires at noon, when ``spec-kitty auth status`` runs with
the context's clock at 10:30, then the session has 1h 30m left; at 12:01 it has expired, and every hosted
command says so without asking the host. Given a host that accepts the session (a fake client factory:
the outside world, not the code under test), when ``auth status --check`` runs, then the check line says
valid and the one request went to the session's own host with its own token. No process is spawned
(``support.inprocess`` runs the console script's own entry).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support.projects import write_auth, write_config
from support.shell import InProcessShell

from orchestrator.sessions.store import Credentials

HOST = "https://spec-kitty-dev.fly.dev"
NOON = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def at(hour: int, minute: int) -> Callable[[], float]:
    """A clock stopped at ``hour:minute`` on the day the session expires."""
    return lambda: NOON.replace(hour=hour, minute=minute).timestamp()


def operator(tmp_path: Path, **kwargs: Any) -> InProcessShell:
    """Flag on, host configured, logged in until noon (no refresh token: a past expiry is final)."""
    shell = InProcessShell(tmp_path, **kwargs).flag("1")
    write_config(shell.home, f'[sync]\nserver_url = "{HOST}"\n')
    write_auth(shell.home, server_url=HOST, expires_at=NOON.isoformat())
    return shell


def test_given_a_clock_at_half_past_ten_when_auth_status_then_an_hour_and_a_half_is_left(tmp_path: Path) -> None:
    shell = operator(tmp_path, clock=at(10, 30))
    ran = shell.run("auth", "status")
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        f"{HOST} (active): logged in as tester@example.invalid (team tester-private), 1h 30m left "
        f"(from {shell.home / 'auth.json'}).\n", "", 0), ran.describe()


def test_given_a_clock_past_the_expiry_when_a_hosted_command_runs_then_the_session_has_expired(
        tmp_path: Path) -> None:
    shell = operator(tmp_path, clock=at(12, 1))
    status = shell.run("auth", "status")
    assert (status.stdout, status.exit_code) == (
        f"{HOST} (active): logged in as tester@example.invalid (team tester-private), expired "
        f"(from {shell.home / 'auth.json'}).\n", 0), status.describe()
    explained = shell.run("sync", "explain", "--json")
    assert json.loads(explained.stdout)["state"] == "Unauthed", explained.describe()


class AcceptingHost:
    """The outside world for ``auth status --check``: a host whose ``/api/v1/me`` knows the token."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []

    def __call__(self, base_url: str, token: str | Credentials | None, fn: Callable[[Any], Awaitable[Any]],
                 **options: Any) -> Any:
        access = token.session.access_token if isinstance(token, Credentials) else token
        self.asked.append((base_url, access))

        class Client:
            async def me(self) -> dict[str, object]:
                return {"email": "tester@example.invalid", "user_id": "tester@example.invalid"}

        return asyncio.run(fn(Client()))


def test_given_a_host_that_accepts_the_session_when_auth_status_check_then_it_is_valid(tmp_path: Path) -> None:
    host = AcceptingHost()
    shell = operator(tmp_path, clock=at(10, 30), clients=host)
    ran = shell.run("auth", "status", "--check")
    assert (ran.stdout, ran.stderr, ran.exit_code) == (
        f"{HOST} (active): logged in as tester@example.invalid (team tester-private), 1h 30m left "
        f"(from {shell.home / 'auth.json'}).\n  Checked with the host: the session is valid.\n", "", 0), ran.describe()
    assert host.asked == [(HOST, "tok-0123456789")]
