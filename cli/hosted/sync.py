"""``spec-kitty sync run`` (one-shot, in-process) and the daemon controls."""

from __future__ import annotations

import click

from cli.gate import each_mission, mission_option, requires
from cli.hosted.daemon import daemon
from cli.hosted.explain import explain
from cli.hosted.report import run_and_report
from states.facts import Intent
from states.machine import READY


@click.group()
def sync() -> None:
    """Hosted SaaS sync commands."""


@sync.command("run")
@mission_option
@requires(READY, Intent.ONE_SHOT)
def run(mission: str | None) -> None:
    """One-shot foreground sync: upload queued events, push and pull tracker lanes (every bound mission
    unless --mission names one)."""
    for current in each_mission(mission):
        run_and_report(current)


sync.add_command(explain)
sync.add_command(daemon)
