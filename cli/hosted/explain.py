"""``spec-kitty sync explain``: why hosted sync is (not) ready here, and the one thing to do next.

Works in every state, so it declares the least need a hosted command can (``Unauthed``: the flag is
on) and then asks the machine for the full picture itself: each prerequisite judged by the machine's
own conditions (``states.explain``), the settled state from ``states.machine.settle``, the next action
from the catalog. No network unless ``--probe``. ``--diagram`` prints the generated diagram with the
settled state highlighted; drawing imports ``transitions.extensions`` only then.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import click

from cli.gate import ask, context, facts, json_errors, mission_option, requires
from orchestrator.facts import LiveFacts
from states import catalog
from states.contract import EVENTS_BATCH_PATH, SYNC_PROTOCOL
from states.explain import Check, check_prerequisites, explain_need, next_step
from states.machine import UNAUTHED, Verdict


@dataclass(frozen=True)
class Row:
    """One line of the explanation: a fact, whether it holds (None: not checked), where it came from."""

    label: str
    ok: bool | None
    source: str
    state: str | None = None
    fact: str | None = None


def probe_row(current: LiveFacts, probe: bool) -> Row:
    """Reachability, if asked: the facts remember the machine's probe, so this probes only when the
    machine stopped before it needed the host."""
    label = catalog.EXPLAIN_PROBE_LABEL
    if not probe:
        return Row(label, None, catalog.EXPLAIN_NOT_PROBED)
    if not current.host_url:
        return Row(label, None, catalog.EXPLAIN_NO_HOST_TO_PROBE)
    return Row(label, current.host_reachable(), catalog.EXPLAIN_PROBE_SOURCE.format(url=current.host_url))


def session_row(current: LiveFacts, probe: bool, reach: Row) -> tuple[Row, catalog.Failure | None]:
    """Whether the host still accepts the session (``--probe`` only, once the host answered): asked of the
    host (``GET /api/v1/me``), since a session revoked there looks valid here. Returns the row and, when
    the host rejects the session, the failure that then comes before anything else."""
    label = catalog.EXPLAIN_SESSION_LABEL
    session = current.session if current.has_token and current.host_url else None
    if not probe or not reach.ok or session is None:
        return Row(label, None, ""), None  # not asked: the text view shows no row, JSON says not checked
    from orchestrator.sessions.login import check_session
    from orchestrator.sessions.store import SOURCE_ENV

    checked = check_session(session, context().clients)
    url = current.host_url or ""
    if checked.valid:
        return Row(label, True, catalog.EXPLAIN_SESSION_OK.format(url=url.rstrip("/"))), None
    if checked.valid is None:
        return Row(label, None, checked.error or ""), None
    failure = (catalog.ENV_TOKEN_REJECTED if session.source == SOURCE_ENV else catalog.SESSION_REJECTED)
    return Row(label, False, catalog.EXPLAIN_SESSION_REJECTED), failure.filled(url=url)


@dataclass(frozen=True)
class Explanation:
    """The whole picture: ``--json`` prints ``as_json()``, the text view renders the rest."""

    verdict: Verdict
    rows: tuple[Row, ...]  # the prerequisites in chain order, then reachability
    step: catalog.Failure
    host_url: str | None
    host_source: str
    daemon_policy: str
    daemon_source: str
    daemon_disabled: bool
    session: Row
    rejected: bool = False  # the host rejects the session: the step says so, whatever the local facts say

    @property
    def events_endpoint(self) -> str:
        return (self.host_url or "<host>").rstrip("/") + EVENTS_BATCH_PATH

    def as_json(self) -> dict[str, Any]:
        *prerequisites, reach = self.rows
        return {
            "mission": self.verdict.slug,
            "state": self.verdict.state,
            "ready": self.verdict.proceed and not self.rejected,
            "prerequisites": [
                {"state": r.state, "fact": r.fact, "label": r.label, "ok": r.ok, "source": r.source}
                for r in prerequisites
            ],
            "probe": {"probed": reach.ok is not None, "reachable": reach.ok, "source": reach.source},
            "session": {"checked": self.session.ok is not None, "accepted": self.session.ok,
                        "source": self.session.source},
            "host": {"url": self.host_url, "source": self.host_source},
            "daemon": {"policy": self.daemon_policy, "source": self.daemon_source,
                       "disabled_by_env": self.daemon_disabled},
            "events": {"endpoint": self.events_endpoint, "protocol": SYNC_PROTOCOL, "needs_binding": False},
            "message": self.step.message,
            "next_action": self.step.next_action,
        }


def explain_facts(current: LiveFacts, checks: tuple[Check, ...], verdict: Verdict, probe: bool) -> Explanation:
    """Join the machine's answers with where each fact came from (``LiveFacts.source``: the place to fix it)."""
    rows = tuple(
        Row(c.prerequisite.label, c.holds, current.source(c.prerequisite.fact), c.prerequisite.state,
            c.prerequisite.fact)
        for c in checks
    )
    reach = probe_row(current, probe)
    session, rejected = session_row(current, probe, reach)
    return Explanation(
        verdict=verdict,
        rows=(*rows, reach),
        step=rejected or next_step(verdict),
        session=session,
        rejected=rejected is not None,
        host_url=current.host_url,
        host_source=current.host_source,
        daemon_policy=current.daemon_policy,
        daemon_source=current.source("daemon_policy"),
        daemon_disabled=bool(current.sync_disabled),
    )


def marks() -> tuple[str, str, str]:
    """✓ ✗ · where the terminal can print them; ASCII where its encoding cannot."""
    try:
        "✓✗·".encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "+", "x", "-"
    return "✓", "✗", "·"


def use_color() -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def render(picture: Explanation, color: bool) -> str:
    """Heading, one line per fact, the daemon policy, the state, then the catalog's message and action."""
    yes, no, unknown = marks()
    rows = (*picture.rows, picture.session) if picture.session.source else picture.rows
    width = max(len(r.label) for r in rows)

    def mark(ok: bool | None) -> str:
        symbol = unknown if ok is None else yes if ok else no
        if not color or ok is None:
            return symbol
        return click.style(symbol, fg="green" if ok else "red", bold=True)

    lines = [catalog.EXPLAIN_HEADING.format(slug=picture.verdict.slug)]
    lines += [catalog.EXPLAIN_ROW.format(mark=mark(r.ok), label=r.label.ljust(width), source=r.source) for r in rows]
    lines += ["", catalog.EXPLAIN_DAEMON.format(policy=picture.daemon_policy, source=picture.daemon_source)]
    lines.append(catalog.EXPLAIN_EVENTS.format(endpoint=picture.events_endpoint, protocol=SYNC_PROTOCOL))
    state = picture.verdict.state
    shown = click.style(state, bold=True) if color else state
    lines += ["", (catalog.EXPLAIN_STATE_REJECTED if picture.rejected else catalog.EXPLAIN_STATE).format(state=shown)]
    lines.append(picture.step.render())
    return "\n".join(lines)


@click.command("explain", epilog="\b\nExamples:\n  spec-kitty sync explain\n  spec-kitty sync explain --probe --json\n"
                                 "  spec-kitty sync explain --diagram mermaid")
@mission_option
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@click.option("--probe", is_flag=True, help="Also probe the host (2 s, one attempt); otherwise no network.")
@click.option("--diagram", type=click.Choice(["mermaid", "svg"]), default=None,
              help="Print the state diagram with the current state highlighted instead.")
@json_errors
@requires(UNAUTHED)
def explain(mission: str | None, as_json: bool, probe: bool, diagram: str | None) -> None:
    """Explain readiness and the one next action.

    Shows each prerequisite in order, whether it holds and where its fact comes from, the state the machine settles
    in, and the one next action. Opens no network connection unless --probe is given.
    """
    if diagram and as_json:
        raise click.UsageError(catalog.EXPLAIN_DIAGRAM_WITH_JSON)
    current = facts(mission)
    checks = check_prerequisites(current)  # reads every local fact first, so the gate reports warnings once
    verdict = ask(explain_need(probe), mission)
    if diagram == "mermaid":
        from states.diagram import mermaid

        click.echo(mermaid(verdict.state), nl=False)
        return
    if diagram == "svg":
        from orchestrator.svg import render_svg

        click.echo(render_svg(verdict.state), nl=False)
        return
    picture = explain_facts(current, checks, verdict, probe)
    if as_json:
        click.echo(json.dumps(picture.as_json(), indent=2))
        return
    color = use_color()
    click.echo(render(picture, color), color=color)
