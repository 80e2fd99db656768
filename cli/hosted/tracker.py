"""``spec-kitty tracker bind|unbind|status|sync run``."""

from __future__ import annotations

import click

from cli.gate import each_mission, facts, mission_option, requires
from cli.hosted.report import notes, run_and_report, summary_line
from orchestrator import tracker as ops
from states import catalog
from states.contract import printable
from states.facts import Intent
from states.machine import READY, UNBOUND


@click.group()
def tracker() -> None:
    """Hosted SaaS tracker commands."""


@tracker.command()
@mission_option
@click.option("--project", default=None, metavar="KEY", help="SaaS project key (default: the repo folder name).")
@requires(UNBOUND, Intent.ONE_SHOT, one_mission=True)
def bind(mission: str | None, project: str | None) -> None:
    """Bind this repository's mission to a tracker project on the SaaS."""
    binding = ops.bind(facts(mission), project)
    click.echo(catalog.TRACKER_BOUND.format(mission=binding.mission, project=binding.project, url=binding.server_url))


@tracker.command()
@mission_option
@requires(READY, Intent.ONE_SHOT, one_mission=True)
def unbind(mission: str | None) -> None:
    """Remove the mission's tracker binding (on the SaaS and in .kittify/config.toml)."""
    binding = ops.unbind(facts(mission))
    click.echo(catalog.TRACKER_UNBOUND.format(mission=binding.mission, project=printable(binding.project)))


@tracker.command()
@mission_option
@requires(READY)
def status(mission: str | None) -> None:
    """Show each bound mission's binding, lanes, last sync and queued events (local only, no network)."""
    for current in each_mission(mission):
        binding = current.binding
        assert binding is not None
        queued, last = ops.queue_summary(current)
        click.echo(catalog.TRACKER_STATUS.format(mission=binding.mission, project=printable(binding.project),
                                                 url=current.host_url))
        click.echo(ops.lanes_line(current, warn=lambda line: click.echo(line, err=True)))
        if last:
            error = catalog.TRACKER_LAST_SYNC_ERROR.format(error=last["error"]) if last.get("error") else ""
            click.echo(catalog.TRACKER_LAST_SYNC.format(time=last.get("time"), pushed=last.get("pushed", 0),
                                                        pulled=last.get("pulled", 0), error=error))
        else:
            click.echo(catalog.TRACKER_NEVER_SYNCED)
        click.echo(catalog.QUEUED_EVENTS.format(queued=queued))


@tracker.group("sync")
def tracker_sync() -> None:
    """Sync the bound mission through the background daemon."""


@tracker_sync.command("run")
@mission_option
@requires(READY, Intent.REMOTE_REQUIRED)
def tracker_sync_run(mission: str | None) -> None:
    """Sync now via the background sync daemon (policy `[sync].background_daemon`)."""
    from orchestrator.daemon.client import DaemonUnavailable, sync_now

    for current in each_mission(mission):
        try:
            result = sync_now(current)
        except DaemonUnavailable as trouble:
            click.echo(catalog.DAEMON_FALLBACK.format(reason=trouble.reason), err=True)
            run_and_report(current)
            continue
        click.echo(summary_line(current, result.get("pushed", 0), result.get("pulled", 0), result.get("queued", 0)))
        for line in notes(list(result.get("conflicts") or []), int(result.get("parked") or 0)):
            click.echo(line)
