"""Local commands: they read and append the repo's mission logs and never touch the network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.gate import app, mission_option
from orchestrator import missions
from orchestrator.errors import SpecKittyError
from orchestrator.paths import EVENTS_FILE, SPECS_DIR, daemon_state_file
from states import catalog
from states.facts import Need
from states.machine import DISABLED, READY

QUEUE_NEED = Need(hosted=True, state=READY)  # wp move queues its event for upload only when Ready


@click.command()
@mission_option
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as JSON (status.json keys).")
def status(mission: str | None, as_json: bool) -> None:
    """Show the local mission status (lanes per work package) from kitty-specs/."""
    facts = app().facts(mission)
    root = facts.project_root
    if root is None or not (root / SPECS_DIR).is_dir():
        click.echo(catalog.NOT_A_PROJECT)
        return
    folders = missions.list_missions(root)
    if not folders:
        click.echo(catalog.NO_MISSIONS.format(path=root / SPECS_DIR))
        return
    folder = missions.mission_dir(root, mission) if mission else folders[0]
    log = missions.read_log(folder / EVENTS_FILE)
    for problem in log.problems:
        click.echo(catalog.MALFORMED_LINE.format(path=problem.path, line=problem.line, reason=problem.reason),
                   err=True)
    snapshot = missions.reduce(folder.name, log.rows)
    if as_json:
        click.echo(json.dumps(snapshot, indent=2, sort_keys=True))
        return
    click.echo(render_kanban(snapshot))
    others = [f.name for f in folders if f.name != folder.name]
    if others:
        click.echo(catalog.OTHER_MISSIONS.format(names=", ".join(sorted(others))))
    for line in hosted_lines(folder.name):
        click.echo(line)


def hosted_lines(slug: str) -> list[str]:
    """The machine's view of hosted sync (flag on only), never failing the local board above it."""
    try:
        state = app().ask(Need(hosted=True, state=READY), slug).state
    except SpecKittyError as error:  # e.g. a corrupt config.toml: say so, keep status a success
        return [catalog.STATUS_UNAVAILABLE.format(error=error)]
    if state == DISABLED:
        return []
    lines = [catalog.STATUS_HOSTED.format(label=catalog.STATUS_LABELS[state])]
    from cli.gate import warn_if_stalled

    warn_if_stalled(slug)
    if daemon_state_file().exists():  # only then: the daemon client and one loopback health call
        from orchestrator.daemon.state import summary_line

        daemon_line = summary_line()
        if daemon_line is not None:  # the state file may vanish between the two looks
            lines.append(daemon_line)
    return lines


def render_kanban(snapshot: dict[str, Any]) -> str:
    """A compact board: one line per lane that holds work, with its work packages."""
    by_lane: dict[str, list[str]] = {}
    for wp_id, wp in snapshot["work_packages"].items():
        by_lane.setdefault(wp["lane"], []).append(wp_id)
    lines = [catalog.KANBAN_HEADER.format(mission=snapshot["mission_slug"], wps=len(snapshot["work_packages"]),
                                          events=snapshot["event_count"])]
    for lane in missions.LANES:
        if snapshot["summary"][lane]:
            lines.append(catalog.KANBAN_LANE.format(lane=lane, count=snapshot["summary"][lane],
                                                    wps=" ".join(by_lane[lane])))
    return "\n".join(lines)


@click.group()
def wp() -> None:
    """Move work packages between lanes (appends to status.events.jsonl)."""


@wp.command("move")
@click.argument("wp_id", metavar="WP_ID")
@click.option("--to", "to_lane", required=True, metavar="LANE", help=f"One of: {', '.join(missions.LANES)}.")
@mission_option
@click.option("--actor", default=None, help="Who moved it (default: $USER).")
@click.option("--reason", default=None, help="Why, recorded in the event.")
@click.option("--force", is_flag=True, help="Record the move as forced.")
def move(wp_id: str, to_lane: str, mission: str | None, actor: str | None, reason: str | None,
         force: bool) -> None:
    """Record a lane change for WP_ID (for example WP01) in the mission's event log."""
    missions.check_wp(wp_id)
    missions.check_lane(to_lane)
    facts = app().facts(mission)
    folder = missions.mission_dir(facts.project_root, facts.mission_slug)
    row = missions.append_transition(folder, wp_id, to_lane, actor=actor or _user(), reason=reason,
                                     force=force)
    assert row is not None  # only a `skip_if` caller gets None
    click.echo(catalog.WP_MOVED.format(wp_id=wp_id, from_lane=row["from_lane"], to_lane=to_lane,
                                       mission=folder.name, event_id=row["event_id"]))
    if app().ask(QUEUE_NEED, mission).proceed:  # only a bound, logged-in, opted-in machine queues
        from orchestrator.outbox import enqueue_local_event

        warning = enqueue_local_event(facts, row)  # best effort (issue 10): the row is in the log
        if warning:
            click.echo(warning, err=True)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return Path.home().name or "unknown"
