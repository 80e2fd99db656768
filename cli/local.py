"""Local commands: they read and append the repo's mission logs and never touch the network."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.gate import ask, facts, json_errors, mission_option, warn_if_stalled
from orchestrator.errors import SpecKittyError, UsageProblem
from orchestrator.home.paths import SPECS_DIR, daemon_state_file
from orchestrator.missions.fold import Snapshot, lane_counts
from orchestrator.missions.folders import list_missions, not_missions
from orchestrator.missions.handles import mission_dir, require_one, resolve
from orchestrator.missions.log import problem_line
from orchestrator.missions.moves import Move, append_transition, check_lane, check_wp, done_evidence, review_result
from orchestrator.missions.read import MissionRead, read_mission
from states import catalog
from states.contract import printable
from states.lanes import LANES
from states.machine import DISABLED, READY_HERE


@click.command(epilog="\b\nExamples:\n  spec-kitty status\n  spec-kitty status --mission 082 --json")
@mission_option
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: the snapshot (status.json keys) of one mission, else an object keyed by slug.")
@json_errors
def status(mission: str | None, as_json: bool) -> None:
    """Show the local mission status (lanes per work package) from kitty-specs/."""
    _status(mission, as_json)


def _status(mission: str | None, as_json: bool) -> None:
    root = facts(mission).project_root
    if root is None or not (root / SPECS_DIR).is_dir():
        click.echo("{}" if as_json else catalog.NOT_A_PROJECT)
        return
    for odd in not_missions(root):
        click.echo(catalog.NOT_A_MISSION_FOLDER.format(path=printable(str(odd))), err=True)
    folders = [resolve(root, mission)] if mission else list_missions(root)
    if not folders:
        click.echo("{}" if as_json else catalog.NO_MISSIONS.format(path=root / SPECS_DIR))
        return
    reads = [read_mission(folder) for folder in folders]
    for read in reads:
        for problem in read.problems:
            click.echo(problem_line(problem),
                       err=True)
    if len(reads) == 1:
        snapshot = reads[0].snapshot
        if as_json:
            click.echo(json.dumps(snapshot, indent=2, sort_keys=True))
            return
        click.echo(render_kanban(snapshot))
        slug: str | None = snapshot["mission_slug"]
    else:
        if as_json:
            click.echo(json.dumps({r.snapshot["mission_slug"]: r.snapshot for r in reads}, indent=2, sort_keys=True))
            return
        for read in latest_first(reads):
            click.echo(render_summary(read.snapshot))
        slug = None  # the readiness wording's rule for several missions (see orchestrator.facts)
    for line in hosted_lines(slug):
        click.echo(line)


def latest_first(reads: list[MissionRead]) -> list[MissionRead]:
    """Most recent transition first, missions without any last, ties by slug (a stable, documented order)."""
    ordered = sorted(reads, key=lambda read: read.snapshot["mission_slug"])
    ordered.sort(key=lambda read: read.snapshot["materialized_at"] or "", reverse=True)  # stable
    return ordered


def render_summary(snapshot: Snapshot) -> str:
    """One compact line for a mission among several: slug, work packages, counts per lane."""
    counts = lane_counts(snapshot)
    return catalog.MISSION_SUMMARY.format(
        slug=snapshot["mission_slug"], wps=len(snapshot["work_packages"]),
        counts=catalog.MISSION_SUMMARY_COUNTS.format(counts=counts) if counts else "")


def hosted_lines(slug: str | None) -> list[str]:
    """The machine's view of hosted sync (flag on only), never failing the local board above it."""
    try:
        state = ask(READY_HERE, slug).state
    except SpecKittyError as error:  # e.g. a corrupt config.toml: say so, keep status a success
        return [catalog.STATUS_UNAVAILABLE.format(error=error)]
    if state == DISABLED:
        return []
    lines = [catalog.STATUS_HOSTED.format(label=catalog.STATUS_LABELS[state])]
    warn_if_stalled(slug)
    if daemon_state_file().exists():  # only then: the daemon client and one loopback health call
        from orchestrator.daemon.life import summary_line

        daemon_line = summary_line()
        if daemon_line is not None:  # the state file may vanish between the two looks
            lines.append(daemon_line)
    return lines


def render_kanban(snapshot: Snapshot) -> str:
    """A compact board: one line per lane that holds work, with its work packages."""
    by_lane: dict[str, list[str]] = {}
    for wp_id, wp in snapshot["work_packages"].items():
        by_lane.setdefault(wp["lane"], []).append(wp_id)
    lines = [catalog.KANBAN_HEADER.format(mission=snapshot["mission_slug"], wps=len(snapshot["work_packages"]),
                                          events=snapshot["event_count"])]
    for lane in LANES:
        if snapshot["summary"][lane]:
            lines.append(catalog.KANBAN_LANE.format(lane=lane, count=snapshot["summary"][lane],
                                                    wps=" ".join(map(printable, by_lane[lane]))))
    return "\n".join(lines)


@click.group(epilog="\b\nExamples:\n  spec-kitty wp move WP01 --to claimed")
def wp() -> None:
    """Move work packages between lanes (appends to status.events.jsonl)."""


def _lane_help() -> str:
    """The allowed lane moves, as ``wp move --help`` shows them (from ``states.lanes.EDGES``)."""
    from states.lanes import EDGES

    moves: dict[str, list[str]] = {}
    for source, dest in EDGES:
        moves.setdefault(source, []).append(dest)
    lines = ["\b", "Lane moves allowed without --force:"]
    lines += [f"  {source} -> {', '.join(dests)}" for source, dests in moves.items()]
    lines += ["", "\b", "Examples:", "  spec-kitty wp move WP01 --to planned",
              "  spec-kitty wp move WP01 --to claimed --mission 082 --actor alice",
              "  spec-kitty wp move WP01 --to done --force --reason 'merged by hand'",
              "", f"More: {catalog.DOCS_LANES} in this project's repository."]
    return "\n".join(lines)


@wp.command("move", epilog=_lane_help())
@click.argument("wp_id", metavar="WP_ID")
@click.option("--to", "to_lane", required=True, metavar="LANE",
              help=f"One of: {', '.join(LANES)} (alias: doing).")
@mission_option
@click.option("--actor", default=None, help="Who moved it (default: $USER).")
@click.option("--reason", default=None, help="Why, recorded in the event (required with --force).")
@click.option("--force", is_flag=True, help="Allow a move outside the lane table (needs --reason).")
@click.option("--evidence-json", default=None, metavar="JSON",
              help='Done evidence, e.g. \'{"review": {"reviewer": "alice", "verdict": "approved", "reference": '
                   '"PR#1"}}\' (required to move to done without --force).')
@click.option("--review-ref", default=None, help="Review feedback reference.")
@click.option("--review-result-json", default=None, metavar="JSON",
              help="Structured review outcome (reviewer, verdict, reference) for moves out of in_review.")
@click.option("--workspace-context", default=None, help="Workspace context identifier (as spec-kitty takes it).")
@click.option("--subtasks-complete/--no-subtasks-complete", default=None,
              help="Whether required subtasks are complete (as spec-kitty takes it).")
@click.option("--implementation-evidence-present/--no-implementation-evidence-present", default=None,
              help="Whether implementation evidence exists (as spec-kitty takes it).")
@click.option("--execution-mode", default="worktree", metavar="MODE", help="worktree (default) or direct_repo.")
def move(wp_id: str, to_lane: str, mission: str | None, actor: str | None, reason: str | None,
         force: bool, evidence_json: str | None, review_ref: str | None, review_result_json: str | None,
         workspace_context: str | None, subtasks_complete: bool | None,
         implementation_evidence_present: bool | None, execution_mode: str) -> None:
    """Record a lane change for WP_ID (WP and 1-4 digits, e.g. WP01) in the mission's event log.

    Only spec-kitty's lane moves are allowed (listed below); a work package that never moved is in
    `genesis` and may only go to planned or canceled. --force with --reason allows any move. The
    options are spec-kitty's `agent status emit` options and land in the row as it records them; the
    mission's status.json is rewritten to match, as spec-kitty does.
    """
    check_wp(wp_id)
    lane = check_lane(to_lane)
    if force and not (reason or "").strip():
        raise UsageProblem(catalog.FORCE_NEEDS_REASON)
    if execution_mode not in ("worktree", "direct_repo"):
        raise UsageProblem(catalog.MOVE_EXECUTION_MODE)
    extras = Move(
        evidence=done_evidence(evidence_json) if evidence_json is not None else None,
        review_ref=review_ref,
        review_result=review_result(review_result_json) if review_result_json is not None else None,
        execution_mode=execution_mode, workspace_context=workspace_context, subtasks_complete=subtasks_complete,
        implementation_evidence_present=implementation_evidence_present)
    current = facts(mission)
    require_one(current.project_root, mission)
    folder = mission_dir(current.project_root, current.mission_slug)
    row = append_transition(folder, wp_id, lane, actor=actor or _user(), reason=reason, force=force,
                            enforce=True, move=extras)
    assert row is not None  # only a `skip_if` caller gets None
    click.echo(catalog.WP_MOVED.format(wp_id=wp_id, from_lane=row["from_lane"], to_lane=lane,
                                       mission=folder.name, event_id=row["event_id"]))
    from orchestrator.missions.autocommit import commit_move

    warning = commit_move(folder, wp_id)
    if warning:
        click.echo(warning, err=True)
    if ask(READY_HERE, mission).proceed:  # only a bound, logged-in, opted-in machine queues
        from orchestrator.sync.outbox import enqueue_local_event

        warning = enqueue_local_event(current, dict(row))  # best effort: the row is in the log
        if warning:
            click.echo(warning, err=True)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return Path.home().name or "unknown"
