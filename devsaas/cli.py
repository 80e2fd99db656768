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

    from orchestrator.home.config import is_loopback

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


SEED_LANES = ("planned", "claimed", "in_progress")  # each step is an allowed lane move, round and round


@main.command("seed-mission")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--rows", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Lane-transition rows to write.")
@click.option("--wps", type=click.IntRange(1, 9999), default=50, show_default=True,
              help="Work packages to spread them over.")
def seed_mission(folder: Path, rows: int, wps: int) -> None:
    """Write a big test mission into FOLDER (e.g. kitty-specs/900-big): status.events.jsonl with ROWS lane
    moves as spec-kitty writes them, and meta.json with a mission_id of its own (a new ULID each time, so
    two seeded missions are never one mission to the host). Refuses a folder that already has a log.

    \b
    Examples:
      spec-kitty-dev-saas seed-mission kitty-specs/900-big --rows 100000
      spec-kitty-dev-saas seed-mission kitty-specs/901-small --rows 200 --wps 5
    """
    import json
    from datetime import UTC, datetime, timedelta

    from orchestrator.home.paths import EVENTS_FILE
    from orchestrator.missions.ulid import new_ulid

    log = folder / EVENTS_FILE
    if log.exists():
        raise click.UsageError(f"{log} already exists; seed a new mission folder.")
    folder.mkdir(parents=True, exist_ok=True)
    mission_id = new_ulid()
    slug = folder.name
    (folder / "meta.json").write_text(json.dumps({"mission_id": mission_id, "mission_slug": slug}, indent=2) + "\n",
                                      encoding="utf-8")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with log.open("w", encoding="utf-8") as out:
        for i in range(rows):
            wp, step = f"WP{i % wps + 1:02d}", i // wps
            from_lane = "genesis" if step == 0 else SEED_LANES[(step - 1) % len(SEED_LANES)]
            row = {"actor": "seed", "at": (start + timedelta(seconds=i)).isoformat(), "event_id": new_ulid(),
                   "evidence": None, "execution_mode": "direct_repo", "force": False, "from_lane": from_lane,
                   "mission_id": mission_id, "mission_slug": slug, "policy_metadata": None, "reason": None,
                   "review_ref": None, "to_lane": SEED_LANES[step % len(SEED_LANES)], "wp_id": wp}
            out.write(json.dumps(row, sort_keys=True) + "\n")
    click.echo(f"Seeded mission `{slug}` ({mission_id}): {rows} rows over {min(wps, rows)} work packages in {log}.")
