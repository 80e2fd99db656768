"""``spec-kitty auth login|status|logout``: one session per host, like ``gh auth``."""

from __future__ import annotations

import json
import sys

import click

from cli.gate import facts, json_errors, print_warnings, requires
from orchestrator import login as login_ops
from orchestrator.errors import CatalogFailure, SpecKittyError
from states import catalog
from states.machine import UNAUTHED


@click.group()
def auth() -> None:
    """Log in to the hosted SaaS."""


@auth.command()
@click.option("--host", default=None, metavar="URL", help="SaaS host (default: configured, else the dev SaaS).")
@click.option("--with-token", is_flag=True, help="Read a token from stdin instead of the browser flow.")
@requires(UNAUTHED)
def login(host: str | None, with_token: bool) -> None:
    """Log in to one host (adds or replaces that host's session only); stores ~/.spec-kitty/auth.json."""
    target = login_ops.resolve_host(host, None if host else facts().host_url)
    if with_token:
        session = login_ops.login_with_token(target, sys.stdin.read())
    else:
        def prompt(url: str, code: str, lifetime: float) -> None:
            click.echo(catalog.LOGIN_PROMPT.format(url=url, code=code))
            click.echo(catalog.LOGIN_CODE_LIFETIME.format(minutes=max(1, round(lifetime / 60))))
            click.echo(catalog.LOGIN_WAITING)

        session = login_ops.login_with_device(target, prompt, note=click.echo)
    who = catalog.LOGGED_IN_AS.format(login=session.login) if session.login else ""
    click.echo(catalog.LOGGED_IN.format(url=session.server_url, who=who))


def _left(seconds: float | None, refreshable: bool) -> str:
    if seconds is None:
        return catalog.AUTH_LEFT_UNKNOWN
    if seconds <= 0:
        return catalog.AUTH_LEFT_EXPIRED_REFRESHABLE if refreshable else catalog.AUTH_LEFT_EXPIRED
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    shown = f"{days}d {hours}h" if days else f"{hours}h {minutes}m" if hours else f"{minutes}m"
    return catalog.AUTH_LEFT.format(left=shown)


@auth.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@json_errors
@requires(UNAUTHED)
def status(as_json: bool) -> None:
    """List each session: host, login, time left, where it came from (never the token). Local only."""
    import time

    from orchestrator import paths
    from orchestrator.auth import SOURCE_ENV

    current = facts()
    sessions = list(current.auth.sessions.values())
    print_warnings(current)
    if current.env_token:  # the env token is for the effective host and hides a stored one there
        env_session = current.session
        assert env_session is not None
        sessions = [s for s in sessions if s.origin != env_session.origin] + [env_session]
    if not sessions:
        raise CatalogFailure(catalog.UNAUTHED, UNAUTHED.lower())
    now = time.time()
    rows = [{
        "host": s.server_url or None,
        "login": s.login,
        "expires_at": s.expires_at,
        "seconds_left": None if s.seconds_left(now) is None else int(s.seconds_left(now) or 0),
        "refreshable": s.refresh_token is not None,
        "email": s.login,
        "team": s.private_team,
        "teams": s.team_names,
        "session_id": s.session_id,
        "needs_login": s.legacy,
        "source": f"env {catalog.SAAS_TOKEN_ENV_VAR}" if s.source == SOURCE_ENV else str(paths.auth_file()),
    } for s in sessions]
    if as_json:
        click.echo(json.dumps({"sessions": rows}, indent=2))
        return
    for s, row in zip(sessions, rows, strict=True):
        source = (catalog.AUTH_SOURCE_ENV if s.source == SOURCE_ENV
                  else catalog.AUTH_SOURCE_FILE.format(path=row["source"]))
        click.echo(catalog.AUTH_SESSION_LINE.format(
            url=s.server_url or catalog.AUTH_UNKNOWN_HOST, login=s.login or catalog.AUTH_UNKNOWN_LOGIN,
            team=catalog.AUTH_SESSION_TEAM.format(team=s.private_team) if s.private_team else "",
            left=catalog.AUTH_LEFT_LEGACY if s.legacy else _left(s.seconds_left(now), s.refresh_token is not None),
            source=source))


@auth.command()
@click.option("--host", default=None, metavar="URL", help="Log out of this host only.")
@click.option("--all", "everything", is_flag=True, help="Log out of every host.")
@requires(UNAUTHED)
def logout(host: str | None, everything: bool) -> None:
    """Revoke the session on its host, then delete it locally (default: the configured host's)."""
    from orchestrator.auth import origin, read_sessions, remove_session

    if host and everything:
        raise SpecKittyError(catalog.LOGOUT_HOST_AND_ALL)
    stored = read_sessions().sessions
    if everything:
        targets = list(stored.values())
    else:
        url = login_ops.resolve_host(host, None) if host else facts().host_url
        if url:
            targets = [s for key, s in stored.items() if key == origin(url)]
        else:  # no host configured: the only session, if there is exactly one
            targets = list(stored.values()) if len(stored) == 1 else []
    if not targets:
        click.echo(catalog.NOT_LOGGED_IN)
        return
    for session in targets:
        revoked = login_ops.revoke(session)
        remove_session(session.server_url)
        click.echo(catalog.LOGGED_OUT_HOST.format(url=session.server_url))
        if not revoked:
            click.echo(catalog.LOGOUT_NOT_REVOKED.format(url=session.server_url))
