"""Running a foreground sync and reporting it: shared by `sync run` and `tracker sync run` (its fallback)."""

from __future__ import annotations

import sys
from typing import Any

import click

from cli.gate import context
from orchestrator.facts import LiveFacts
from states import catalog


def run_and_report(current: LiveFacts, *, quiet: bool = False) -> dict[str, Any]:
    """Run one foreground sync and print its summary (a progress bar on a TTY for many batches), unless
    ``quiet`` (``--json``); returns the mission's report: what ``sync run --json`` prints for it."""
    from orchestrator.sync.run import run_sync
    from orchestrator.tracker.service import sync_target

    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and not quiet and sys.stdout.isatty() and total > 500:
            bar = click.progressbar(length=total, label=catalog.SYNC_PROGRESS_LABEL)
            bar.__enter__()
        if bar is not None:
            bar.length = max(total, done)  # an estimate from the log's bytes while the scan runs, then exact
            bar.update(done - bar.pos)

    try:
        result = run_sync(sync_target(current), progress=progress, clients=context().clients)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    report = {"mission": current.mission_slug, "host": current.host_url, "pushed": result.pushed,
              "pulled": result.pulled, "queued": result.queued, "parked": result.parked,
              "conflicts": result.conflicts}
    if quiet:
        return report
    click.echo(summary_line(current, result.pushed, result.pulled, result.queued))
    for line in [*notes(result.conflicts, result.parked), *result.notes]:
        click.echo(line)
    return report


def notes(conflicts: list[dict[str, str]], parked: int) -> list[str]:
    """After the summary: each conflict this run found, and a pointer to parked rows."""
    lines = [(catalog.CONFLICT_LINE_TRACKER if c.get("kept") == "remote" else catalog.CONFLICT_LINE).format(**c)
             for c in conflicts]
    if parked:
        lines.append(catalog.SYNC_PARKED_NOTE.format(count=parked))
    return lines


def summary_line(current: LiveFacts, pushed: int, pulled: int, queued: int) -> str:
    """The one-line result of a sync, the same whether it ran here or in the background daemon."""
    return catalog.SYNC_SUMMARY.format(mission=current.mission_slug, url=current.host_url, pushed=pushed,
                                       pulled=pulled, queued=queued)
