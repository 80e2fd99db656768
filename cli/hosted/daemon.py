"""``spec-kitty sync daemon status|stop``: look at or stop the background sync daemon.

Both talk to the daemon over loopback only and never start one. The daemon client is imported inside
each command, so registering this group under ``sync`` costs nothing for the other commands.
"""

from __future__ import annotations

from typing import Any

import click

from cli.gate import json_errors, requires
from states import catalog
from states.machine import UNAUTHED


@click.group(epilog="\b\nExamples:\n  spec-kitty sync daemon status\n  spec-kitty sync daemon stop")
def daemon() -> None:
    """Inspect or stop the background sync daemon."""


@daemon.command("status", epilog="\b\nExamples:\n  spec-kitty sync daemon status\n"
                                 "  spec-kitty sync daemon status --json")
@click.option("--json", "as_json", is_flag=True, help="Print the daemon's answer as JSON.")
@json_errors
@requires(UNAUTHED)
def daemon_status(as_json: bool) -> None:
    """Show whether the daemon runs: pid, version, uptime, queued events, last sync and last error."""
    from orchestrator.daemon import client
    from orchestrator.daemon.life import foreign_line, format_uptime
    from orchestrator.home import paths
    from states.daemon_life import ANSWERING, DAEMON_STATUS_LINE, FOREIGN_STATES

    state, info = client.status()
    if as_json:
        import json

        click.echo(json.dumps({**info, "log": str(paths.daemon_log_file())}, indent=2, sort_keys=True, default=str))
        return
    if state in FOREIGN_STATES:
        click.echo(foreign_line(state, info))
        return
    if state not in ANSWERING:
        click.echo(DAEMON_STATUS_LINE[state].format(pid=info.get("pid")))
        return
    click.echo(catalog.DAEMON_LINE_RUNNING.format(pid=info.get("pid"), version=info.get("version"),
                                                  uptime=format_uptime(float(info.get("uptime") or 0))))
    click.echo(catalog.DAEMON_STATUS_QUEUED.format(queued=info.get("queued", 0)))
    last: dict[str, Any] | None = info.get("last_sync")
    click.echo(catalog.DAEMON_STATUS_LAST_SYNC.format(**_defaults(last)) if last else catalog.DAEMON_STATUS_NEVER)
    error: dict[str, Any] | None = info.get("last_error")
    click.echo(catalog.DAEMON_STATUS_LAST_ERROR.format(**_defaults(error)) if error else catalog.DAEMON_STATUS_NO_ERROR)
    for target in info.get("targets") or []:
        click.echo(catalog.DAEMON_STATUS_TARGET.format(**_defaults(target)))
    click.echo(catalog.DAEMON_STATUS_LOG.format(path=paths.daemon_log_file()))


def _defaults(row: dict[str, Any]) -> dict[str, Any]:
    """A daemon answer row with every field the wording may name (an older daemon may omit some)."""
    base = {"time": "?", "mission": "?", "pushed": 0, "pulled": 0, "queued": 0, "message": "?",
            "repo_root": "?", "next_in": 0}
    return {**base, **{k: v for k, v in row.items() if v is not None}}


@daemon.command("stop", epilog="\b\nExamples:\n  spec-kitty sync daemon stop")
@requires(UNAUTHED)
def daemon_stop() -> None:
    """Stop the daemon and wait until it has exited (safe to run when none is running)."""
    from orchestrator.daemon import client

    pid = client.stop()
    click.echo(catalog.DAEMON_NOT_RUNNING if pid is None else catalog.DAEMON_STOPPED.format(pid=pid))
