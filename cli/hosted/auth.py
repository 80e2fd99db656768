"""``spec-kitty auth login|status|logout``: one session per host, like ``gh auth``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from cli.gate import ask, context, facts, json_errors, print_warnings, requires
from orchestrator.errors import CatalogFailure, SpecKittyError
from orchestrator.sessions import login as login_ops
from states import catalog
from states.facts import Need
from states.machine import NO_HOST, UNAUTHED, UNBOUND, Verdict

if TYPE_CHECKING:
    from orchestrator.facts import LiveFacts
    from orchestrator.sessions.store import Session


# A token for the effective host, and that host: the chain up to Unbound (never the binding, never a probe).
HOST_SESSION = Need(hosted=True, state=UNBOUND)


@click.group(epilog="\b\nExamples:\n  spec-kitty auth login\n  spec-kitty auth status --check")
def auth() -> None:
    """Log in to the hosted SaaS."""


@auth.command(epilog="\b\nExamples:\n  spec-kitty auth login\n  spec-kitty auth login --host http://127.0.0.1:8000\n"
                      "  echo \"$TOKEN\" | spec-kitty auth login --with-token --host https://spec-kitty-dev.fly.dev")
@click.option("--host", default=None, metavar="URL", help="SaaS host (default: configured, else the dev SaaS).")
@click.option("--with-token", is_flag=True, help="Read a token from stdin instead of the browser flow.")
@requires(UNAUTHED)
def login(host: str | None, with_token: bool) -> None:
    """Log in to one host (adds or replaces that host's session only); stores ~/.spec-kitty/auth.json."""
    target = login_ops.resolve_host(host, None if host else facts().host_url)
    if with_token:
        session = login_ops.login_with_token(target, sys.stdin.read(), context().clients)
    else:
        def prompt(url: str, code: str, lifetime: float) -> None:
            click.echo(catalog.LOGIN_PROMPT.format(url=url, code=code))
            click.echo(catalog.LOGIN_CODE_LIFETIME.format(minutes=max(1, round(lifetime / 60))))
            click.echo(catalog.LOGIN_WAITING)

        session = login_ops.login_with_device(target, prompt, note=click.echo, clients=context().clients)
    who = catalog.LOGGED_IN_AS.format(login=session.login) if session.login else ""
    click.echo(catalog.LOGGED_IN.format(url=session.server_url, who=who))
    note = _not_active(facts(), session.server_url)
    if note:
        click.echo(note)


def _not_active(current: LiveFacts, url: str) -> str | None:
    """After a login to another host than the effective one: say the active host did not change, and how
    to change it (the config key, or the environment variable that overrides it)."""
    from orchestrator.sessions.store import origin

    active = current.host_url
    if not active or origin(active) == origin(url):
        return None
    if context().env.get(catalog.SAAS_URL_ENV_VAR, "").strip():
        return catalog.LOGIN_NOT_ACTIVE_ENV.format(active=active, url=url)
    from orchestrator.home import paths

    return catalog.LOGIN_NOT_ACTIVE.format(active=active, url=url, source=paths.config_file())


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


@auth.command(epilog="\b\nExamples:\n  spec-kitty auth status\n  spec-kitty auth status --check --json")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--check", is_flag=True, help="Ask each session's host whether it still accepts it (GET /api/v1/me).")
@json_errors
@requires(UNAUTHED)
def status(as_json: bool, check: bool) -> None:
    """List each session: host, login, time left, where it came from (never the token), and which one is
    active (the effective host's). Local only, unless --check asks each host; exit 1 when a session is
    rejected, unanswered, or an env token has no host."""
    from orchestrator.home import paths
    from orchestrator.sessions.store import SOURCE_ENV, origin

    where, current = context(), facts()
    sessions = list(where.sessions.sessions.values())
    print_warnings(where)
    # Only with nothing stored, or with an env token, can the machine's answer change what is listed: it
    # is not asked otherwise, since settling would vet a stored session's URL that a listing only shows.
    verdict = ask(HOST_SESSION) if current.env_token or not sessions else None
    env_without_host = verdict is not None and verdict.state == NO_HOST and bool(current.env_token)
    if current.env_token and not env_without_host:  # the env token is for the effective host and hides a stored one
        env_session = current.session
        assert env_session is not None
        sessions = [s for s in sessions if s.origin != env_session.origin] + [env_session]
    if not sessions and verdict is not None and not verdict.proceed:
        raise _nothing_to_list(verdict)
    active = origin(current.host_url) if current.host_url else None
    checks = {id(s): login_ops.check_session(s, where.clients) for s in sessions} if check else {}
    now = where.clock()
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
        "active": s.origin == active,
        **({"check": checks[id(s)]._asdict()} if check else {}),
    } for s in sessions]
    failed = env_without_host or any(c.valid is not True for c in checks.values())
    if as_json:
        body: dict[str, object] = {"sessions": rows}
        if env_without_host:
            body["error"] = catalog.AUTH_ENV_NO_HOST.message
        click.echo(json.dumps(body, indent=2))
        if failed:
            raise SystemExit(int(catalog.ExitCode.FAILURE))
        return
    for s, row in zip(sessions, rows, strict=True):
        source = (catalog.AUTH_SOURCE_ENV if s.source == SOURCE_ENV
                  else catalog.AUTH_SOURCE_FILE.format(path=row["source"]))
        url = s.server_url or catalog.AUTH_UNKNOWN_HOST
        click.echo(catalog.AUTH_SESSION_LINE.format(
            url=url + (catalog.AUTH_ACTIVE if row["active"] else ""),
            login=s.login or (checks[id(s)].login if check else None) or catalog.AUTH_UNKNOWN_LOGIN,
            team=catalog.AUTH_SESSION_TEAM.format(team=s.private_team) if s.private_team else "",
            left=catalog.AUTH_LEFT_LEGACY if s.legacy else _left(s.seconds_left(now), s.refresh_token is not None),
            source=source))
        if check:
            click.echo(_check_line(s, checks[id(s)]))
    if env_without_host:
        click.echo(catalog.AUTH_ENV_NO_HOST.render())
    if failed:
        raise SystemExit(int(catalog.ExitCode.FAILURE))


def _nothing_to_list(verdict: Verdict) -> CatalogFailure:
    """The machine stopped and no session is left to list: Unauthed in the machine's own words (no session
    anywhere); NoHost, which only an env token reaches here, in the env token's (set, but for no host)."""
    if verdict.state == NO_HOST:
        return CatalogFailure(catalog.AUTH_ENV_NO_HOST)
    assert verdict.outcome is not None
    return CatalogFailure(verdict.outcome, verdict.state.lower())


def _check_line(session: Session, checked: login_ops.Checked) -> str:
    from orchestrator.sessions.store import SOURCE_ENV

    if checked.valid:
        return catalog.AUTH_CHECK_VALID
    if checked.valid is False and session.source == SOURCE_ENV:
        return catalog.AUTH_CHECK_ENV_REJECTED.format(url=session.server_url)
    if checked.valid is False:
        return catalog.AUTH_CHECK_REJECTED.format(url=session.server_url)
    return catalog.AUTH_CHECK_FAILED.format(error=checked.error)


@auth.command(epilog="\b\nExamples:\n  spec-kitty auth token\n"
                     "  SPEC_KITTY_SAAS_TOKEN=\"$(spec-kitty auth token --host https://spec-kitty-dev.fly.dev)\"")
@click.option("--host", default=None, metavar="URL", help="The session of this host (default: the active host).")
@requires(UNAUTHED)
def token(host: str | None) -> None:
    """Print the effective token (env SPEC_KITTY_SAAS_TOKEN, else the active or --host session's), for CI
    jobs, like `gh auth token`. Local only: the token is printed as stored, never sent anywhere."""
    from orchestrator.sessions.store import origin

    current = facts()
    if host:
        url = login_ops.resolve_host(host, None)
        if current.env_token and current.host_url and origin(current.host_url) == origin(url):
            session: Session | None = current.session
        else:
            session = context().sessions.sessions.get(origin(url))
        if session is None:
            raise CatalogFailure(catalog.UNAUTHED_OTHER_HOST.filled(url=url)._replace(
                next_action=catalog.UNAUTHED_OTHER_HOST.next_action.format(url=url)), UNAUTHED.lower())
    else:
        verdict = ask(Need(hosted=True, state=NO_HOST))
        if not verdict.proceed:
            assert verdict.outcome is not None
            raise CatalogFailure(verdict.outcome, verdict.state.lower())
        session = current.session
    assert session is not None
    click.echo(session.access_token)


@auth.command(epilog="\b\nExamples:\n  spec-kitty auth logout\n  spec-kitty auth logout --host http://127.0.0.1:8000\n"
                     "  spec-kitty auth logout --all")
@click.option("--host", default=None, metavar="URL", help="Log out of this host only.")
@click.option("--all", "everything", is_flag=True, help="Log out of every host.")
@requires(UNAUTHED)
def logout(host: str | None, everything: bool) -> None:
    """Revoke the session on its host, then delete it locally (default: the configured host's)."""
    from orchestrator.sessions.store import origin, read_sessions

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
    if not targets and host and stored:  # a host without a session: name the hosts that have one
        hosts = ", ".join(f"`{s.server_url}`" for s in stored.values())
        raise SpecKittyError(catalog.LOGOUT_UNKNOWN_HOST.format(url=url, hosts=hosts))
    if not targets:
        click.echo(catalog.NOT_LOGGED_IN)
        return
    from orchestrator.sessions.revoke import log_out

    for session in targets:
        revoked = log_out(session, context().clients)
        click.echo(catalog.LOGGED_OUT_HOST.format(url=session.server_url))
        if not revoked:
            click.echo(catalog.LOGOUT_NOT_REVOKED.format(url=session.server_url))
