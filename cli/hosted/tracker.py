"""``spec-kitty tracker bind|unbind|status|sync run``."""

from __future__ import annotations

import click

from cli.gate import context, each_mission, facts, json_errors, mission_option, requires
from cli.hosted.report import notes, run_and_report, summary_line
from orchestrator.tracker import service
from orchestrator.tracker.binding import OWNERSHIP_MODES, SAAS_PROVIDERS
from states import catalog
from states.contract import printable
from states.facts import Intent
from states.machine import READY, UNBOUND


@click.group()
def tracker() -> None:
    """Hosted SaaS tracker commands."""


@tracker.command()
@mission_option
@click.option("--provider", default=None, metavar="NAME",
              help=f"SaaS-backed tracker provider ({', '.join(SAAS_PROVIDERS)}; default: whichever the host offers).")
@click.option("--bind-ref", default=None, metavar="REF", help="Bind to a binding the host already knows (validated).")
@click.option("--select", type=int, default=None, metavar="N", help="Pick candidate N of the numbered list.")
@click.option("--ownership-mode", default=None, metavar="MODE",
              help=f"Who wins a conflict: {' | '.join(OWNERSHIP_MODES)} (default: spec_kitty_authoritative, "
                   "or the existing binding's).")
@requires(UNBOUND, Intent.ONE_SHOT)
def bind(mission: str | None, provider: str | None, bind_ref: str | None, select: int | None,
         ownership_mode: str | None) -> None:
    """Bind this repository to a tracker resource the SaaS fronts (.kittify/config.yaml `tracker:`)."""
    current = facts(mission)
    bound = service.bind(current, provider, bind_ref, select, ownership_mode, clients=context().clients)
    binding = bound.binding
    click.echo(catalog.TRACKER_BOUND.format(provider=binding.provider, label=printable(binding.label),
                                            url=current.host_url, ref=printable(binding.binding_ref or "-"),
                                            mode=binding.ownership_mode))
    if bound.migrated:
        from orchestrator.home.paths import repo_config_file
        from orchestrator.tracker.binding import config_yaml

        click.echo(catalog.TRACKER_MIGRATED.format(old=repo_config_file(current.repo_root),
                                                   new=config_yaml(current.repo_root)))


@tracker.command()
@mission_option
@requires(READY)
def unbind(mission: str | None) -> None:
    """Remove the repository's tracker binding (.kittify/config.yaml `tracker:`; the host keeps its side)."""
    from orchestrator.home.paths import repo_config_file
    from orchestrator.tracker.binding import config_yaml

    current = facts(mission)
    bound = service.unbind(current)
    binding = bound.binding
    if binding.legacy:
        click.echo(catalog.TRACKER_MIGRATED_REMOVED.format(old=repo_config_file(current.repo_root)))
        return
    click.echo(catalog.TRACKER_UNBOUND.format(provider=binding.provider, label=printable(binding.label),
                                              path=config_yaml(current.repo_root)))
    click.echo(catalog.TRACKER_UNBOUND_HOST_NOTE)
    if bound.migrated:
        click.echo(catalog.TRACKER_MIGRATED_REMOVED.format(old=repo_config_file(current.repo_root)))


@tracker.command()
@mission_option
@click.option("--json", "as_json", is_flag=True,
              help="Print the binding, the host's status and each mission's as JSON.")
@json_errors
@requires(READY, Intent.ONE_SHOT)
def status(mission: str | None, as_json: bool) -> None:
    """Show the binding, the host's view of it (GET status/), and each mission's lanes, last sync and queue."""
    from orchestrator.sync.outbox import mission_ref, queue_summary

    current = facts(mission)
    binding = current.binding
    assert binding is not None
    remote = None if binding.legacy else service.remote_status(current, clients=context().clients)
    missions = []
    for each in each_mission(mission):
        queued, last = queue_summary(mission_ref(each))
        missions.append((each, queued, last))
    if as_json:
        import json

        body = {"provider": binding.provider or None, "binding_ref": binding.binding_ref,
                "project_slug": binding.project_slug, "display_label": binding.display_label,
                "ownership_mode": binding.ownership_mode, "host": current.host_url, "remote": remote,
                "legacy_project": binding.legacy_project,
                "missions": [{"mission": each.mission_slug, "queued": queued, "last_sync": last}
                             for each, queued, last in missions]}
        click.echo(json.dumps(body, indent=2, sort_keys=True, default=str))
        return
    if binding.legacy:
        from orchestrator.home.paths import repo_config_file

        click.echo(catalog.TRACKER_LEGACY_STATUS.format(path=repo_config_file(current.repo_root),
                                                        project=printable(binding.legacy_project or "")))
    else:
        click.echo(catalog.TRACKER_STATUS.format(provider=binding.provider, label=printable(binding.label),
                                                 url=current.host_url, ref=printable(binding.binding_ref or "-"),
                                                 mode=binding.ownership_mode))
        assert remote is not None
        path = remote.get("identity_path")
        click.echo(catalog.TRACKER_REMOTE_STATUS.format(
            state=printable(str(remote.get("sync_state") or "unknown")),
            path=printable(str(path.get("type") if isinstance(path, dict) else "unknown")),
            issues=printable(str(remote.get("issue_count", "?"))),
            last=printable(str(remote.get("last_sync_at") or "never"))))
    for each, queued, last in missions:
        click.echo(catalog.TRACKER_MISSION.format(mission=each.mission_slug))
        click.echo(service.lanes_line(each, warn=lambda line: click.echo(line, err=True)))
        if last:
            error = catalog.TRACKER_LAST_SYNC_ERROR.format(error=last["error"]) if last.get("error") else ""
            click.echo(catalog.TRACKER_LAST_SYNC.format(time=last.get("time"), pushed=last.get("pushed", 0),
                                                        pulled=last.get("pulled", 0), error=error))
        else:
            click.echo(catalog.TRACKER_NEVER_SYNCED)
        click.echo(catalog.QUEUED_EVENTS.format(queued=queued))


@tracker.group("sync")
def tracker_sync() -> None:
    """Sync the repository's missions through the background daemon."""


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
        for line in [*notes(list(result.get("conflicts") or []), int(result.get("parked") or 0)),
                     *(result.get("notes") or [])]:
            click.echo(line)
