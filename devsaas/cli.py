"""`spec-kitty-dev-saas`: run the dev SaaS, or the demo that drives it.

aiohttp and asyncio are imported only inside `serve`, so `--help` and `demo` stay cheap. The first
stdout line of `serve` is a contract with `testing.start_dev_saas` (and with humans): it appears,
flushed, as soon as the socket is bound, and carries the real port.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path

import click

LISTENING_PREFIX = "spec-kitty dev SaaS listening on "


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Local stand-in for the hosted spec-kitty SaaS (API contract: docs/api.md)."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 picks a free port.")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file to keep state in. Default: a fresh temp dir, removed on exit.",
)
@click.option("--auto-approve", is_flag=True, help="Approve every device code as it is created.")
@click.option(
    "--device-expiry",
    type=click.IntRange(min=1),
    default=600,
    show_default=True,
    metavar="SECONDS",
    help="Lifetime of device codes.",
)
@click.option("--token-ttl", type=click.IntRange(min=1), default=30 * 24 * 3600, show_default=True,
              metavar="SECONDS", help="Lifetime of access tokens (short ones exercise refresh).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host; device codes are then approved only through the admin API.")
@click.option("--poll-interval", type=click.IntRange(min=1), default=1, show_default=True, metavar="SECONDS",
              help="The device flow's polling interval; a faster poll answers slow_down.")
@click.option("--refresh-grace", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="SECONDS",
              help="How long a just-rotated refresh token answers 409 refresh_replay_benign_retry.")
@click.option("--refresh-ttl", type=click.IntRange(min=1), default=90 * 24 * 3600, show_default=True,
              metavar="SECONDS", help="Lifetime of each refresh token.")
@click.option("--max-batch-bytes", type=click.IntRange(min=0), default=512 * 1024, show_default=True,
              metavar="BYTES", help="Decompressed size cap of one events batch (413 above it); 0: no cap.")
def serve(host: str, port: int, db: Path | None, auto_approve: bool, device_expiry: int, token_ttl: int,
          allow_remote: bool, poll_interval: int, refresh_grace: float, refresh_ttl: int,
          max_batch_bytes: int) -> None:
    """Serve the SaaS API until SIGINT or SIGTERM."""
    import asyncio
    import sqlite3

    from orchestrator.config import is_loopback

    if not is_loopback(host.strip("[]")) and not allow_remote:
        raise click.UsageError(f"--host {host} is not a loopback address; add --allow-remote to serve it anyway.")
    if allow_remote and auto_approve:
        raise click.UsageError("--auto-approve cannot be combined with --allow-remote (anyone could log in).")

    from devsaas.app import serve as serve_app
    from devsaas.store import Store

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="dev-saas: %(message)s")
    scratch = None
    if db is None:
        scratch = Path(tempfile.mkdtemp(prefix="spec-kitty-dev-saas-"))
        db = scratch / "dev-saas.sqlite3"

    def announce(url: str) -> None:
        click.echo(f"{LISTENING_PREFIX}{url}")
        sys.stdout.flush()

    try:
        store = Store(db)
        try:
            asyncio.run(
                serve_app(
                    store,
                    host=host,
                    port=port,
                    auto_approve=auto_approve,
                    device_expiry=device_expiry,
                    on_listening=announce,
                    token_ttl=token_ttl,
                    allow_remote=allow_remote,
                    poll_interval=poll_interval,
                    refresh_grace=refresh_grace,
                    refresh_ttl=refresh_ttl,
                    max_batch_bytes=max_batch_bytes,
                )
            )
        finally:
            store.close()
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        raise click.ClickException(f"cannot use database {db}: {exc}") from None
    except KeyboardInterrupt:
        pass  # a SIGINT that landed before the signal handlers were installed: still a clean stop
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@main.command()
def demo() -> None:
    """Walk through login, binding, upload and tracker sync against a dev SaaS."""
    try:
        from devsaas.demo import run_demo
    except ModuleNotFoundError as exc:
        if exc.name != "devsaas.demo":
            raise
        raise click.ClickException("the demo is not available in this build") from None
    result = run_demo()
    if isinstance(result, int):
        sys.exit(result)


if __name__ == "__main__":
    main()
