"""``spec-kitty sync run`` (one-shot, in-process), ``sync status|retry|drop`` and the daemon controls."""

from __future__ import annotations

import json

import click

from cli.gate import context, every_mission, facts, json_errors, mission_option, requires
from cli.hosted.daemon import daemon
from cli.hosted.explain import explain
from cli.hosted.report import run_and_report
from states import catalog
from states.facts import Intent
from states.machine import UNAUTHED, UNBOUND, UNREACHABLE, Verdict


@click.group(epilog="\b\nExamples:\n  spec-kitty sync run\n  spec-kitty sync status\n  spec-kitty sync explain --probe")
def sync() -> None:
    """Hosted SaaS sync commands."""


def record_stop(verdict: Verdict, mission: str | None) -> None:
    """A sync the machine stopped at the host (refused, unresolvable, silent) is a failed sync: each mission
    it would have synced keeps the reason as `sync status`'s last error."""
    if verdict.state != UNREACHABLE or verdict.outcome is None:
        return
    from orchestrator.sync.outbox import record_failure

    for current in every_mission(mission):
        record_failure(current, verdict.outcome.message)


@sync.command("run", epilog="\b\nExamples:\n  spec-kitty sync run\n  spec-kitty sync run --mission 082 --json")
@mission_option
@click.option("--json", "as_json", is_flag=True,
              help="Print a report per mission (pushed, pulled, parked, conflicts, queued) as JSON.")
@json_errors
@requires(UNBOUND, Intent.ONE_SHOT, on_stop=record_stop)
def run(mission: str | None, as_json: bool) -> None:
    """One-shot foreground sync: upload every mission's lane changes to the host (all missions unless
    --mission names one), then push and pull tracker lanes where a mission is bound."""
    reports = [run_and_report(current, quiet=as_json) for current in every_mission(mission)]
    if as_json:
        click.echo(json.dumps({"missions": reports}, indent=2, sort_keys=True))


@sync.command("status", epilog="\b\nExamples:\n  spec-kitty sync status\n  spec-kitty sync status --json")
@mission_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@json_errors
@requires(UNAUTHED)
def status(mission: str | None, as_json: bool) -> None:
    """Where sync stands per bound mission and host: queued, oldest wait, last success and error,
    parked rows, conflicts, and the daemon (local only, no network)."""
    from orchestrator.sync.status import gather, render

    report = gather(facts(mission), mission, now=context().clock())
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    for line in render(report):
        click.echo(line)


def _parked_refs(refs: tuple[str, ...], everything: bool) -> list[str] | None:
    if not refs and not everything:
        from orchestrator.errors import SpecKittyError

        raise SpecKittyError(catalog.PARK_NAME_REQUIRED)
    return None if everything else list(refs)


@sync.command("retry", epilog="\b\nExamples:\n  spec-kitty sync retry --all --mission 082\n"
                              "  spec-kitty sync retry 01HZX3Q5...")
@click.argument("refs", nargs=-1, metavar="[REF]...")
@click.option("--all", "everything", is_flag=True, help="Every parked row of the mission.")
@mission_option
@requires(UNBOUND, one_mission=True)  # parked refs belong to one mission's queue: never guess which
def retry(refs: tuple[str, ...], everything: bool, mission: str | None) -> None:
    """Put parked rows back on the queue (each REF as `sync status` lists it); the next sync sends them."""
    from orchestrator.sync.deadletters import DeadLetters
    from orchestrator.sync.outbox import open_mission_queue

    wanted = _parked_refs(refs, everything)
    queue, on_host = open_mission_queue(facts(mission))
    with queue:
        outcomes = DeadLetters(queue).retry(on_host.key, wanted)
    failed = False
    for ref, parked in outcomes:
        if parked is None:
            click.echo(catalog.RETRIED_LINE.format(ref=ref))
        elif not parked.reason:
            click.echo(catalog.PARKED_UNKNOWN.format(ref=ref), err=True)
            failed = True
        else:
            click.echo(catalog.RETRY_STILL_PARKED.format(ref=ref, reason=parked.reason))
    if not outcomes and everything:
        click.echo(catalog.PARKED_NONE.format(mission=facts(mission).mission_slug))
    if failed:
        raise SystemExit(int(catalog.ExitCode.FAILURE))


@sync.command("drop", epilog="\b\nExamples:\n  spec-kitty sync drop --all --mission 082")
@click.argument("refs", nargs=-1, metavar="[REF]...")
@click.option("--all", "everything", is_flag=True, help="Every parked row of the mission.")
@mission_option
@requires(UNBOUND, one_mission=True)
def drop(refs: tuple[str, ...], everything: bool, mission: str | None) -> None:
    """Discard parked rows for good (each REF as `sync status` lists it); the log keeps them."""
    from orchestrator.sync.deadletters import DeadLetters
    from orchestrator.sync.outbox import open_mission_queue

    wanted = _parked_refs(refs, everything)
    queue, on_host = open_mission_queue(facts(mission))
    with queue:
        dropped, unknown = DeadLetters(queue).drop(on_host.key, wanted)
    for ref in dropped:
        click.echo(catalog.DROPPED_LINE.format(ref=ref))
    for ref in unknown:
        click.echo(catalog.PARKED_UNKNOWN.format(ref=ref), err=True)
    if not dropped and not unknown and everything:
        click.echo(catalog.PARKED_NONE.format(mission=facts(mission).mission_slug))
    if unknown:
        raise SystemExit(int(catalog.ExitCode.FAILURE))


sync.add_command(explain)
sync.add_command(daemon)
