"""``spec-kitty auth login|status|logout``."""

from __future__ import annotations

import sys

import click

from cli.gate import facts, requires
from orchestrator import login as login_ops
from orchestrator.auth import remove_session
from states import catalog
from states.machine import NO_HOST, UNAUTHED


@click.group()
def auth() -> None:
    """Log in to the hosted SaaS."""


@auth.command()
@click.option("--host", default=None, metavar="URL", help="SaaS host (default: configured, else the dev SaaS).")
@click.option("--with-token", is_flag=True, help="Read a token from stdin instead of the browser flow.")
@requires(UNAUTHED)
def login(host: str | None, with_token: bool) -> None:
    """Log in with the device flow (or --with-token for scripts); stores ~/.spec-kitty/auth.json."""
    target = login_ops.resolve_host(host, facts().host_url)
    if with_token:
        session = login_ops.login_with_token(target, sys.stdin.read())
    else:
        def prompt(url: str, code: str) -> None:
            click.echo(catalog.LOGIN_PROMPT.format(url=url, code=code))
            click.echo(catalog.LOGIN_WAITING)

        session = login_ops.login_with_device(target, prompt)
    who = catalog.LOGGED_IN_AS.format(login=session.login) if session.login else ""
    click.echo(catalog.LOGGED_IN.format(url=session.server_url, who=who))


@auth.command()
@requires(NO_HOST)
def status() -> None:
    """Show who is logged in, to which host, and until when (never the token)."""
    session = facts().auth.session
    assert session is not None
    click.echo(catalog.AUTH_STATUS.format(url=session.server_url or catalog.AUTH_UNKNOWN_HOST,
                                          login=session.login or catalog.AUTH_UNKNOWN_LOGIN))
    click.echo(catalog.AUTH_EXPIRES.format(expires=session.expires_at or catalog.AUTH_UNKNOWN_EXPIRY))


@auth.command()
@requires(UNAUTHED)
def logout() -> None:
    """Remove the stored token (safe to run twice)."""
    click.echo(catalog.LOGGED_OUT if remove_session() else catalog.NOT_LOGGED_IN)
