"""The one place a command asks the readiness machine whether it may run.

A hosted command declares its need beside its definition with ``@requires(state, intent)``; the gate
gathers facts, lets the machine settle, and either runs the command or ends it with the catalog's
wording for the state the machine settled in. No command re-implements the prerequisite chain.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from orchestrator.errors import CatalogFailure
from orchestrator.facts import LiveFacts
from states.facts import Intent, Need
from states.machine import Verdict, settle

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """Per-invocation context: facts are gathered once per mission choice, lazily."""

    def __init__(self, *, debug: bool = False) -> None:
        self.debug = debug
        self._facts: dict[str | None, LiveFacts] = {}
        self.verdict: Verdict | None = None

    def facts(self, mission: str | None = None) -> LiveFacts:
        if mission not in self._facts:
            self._facts[mission] = LiveFacts(mission=mission)
        return self._facts[mission]

    def ask(self, need: Need, mission: str | None = None) -> Verdict:
        """Let the machine settle for ``need`` and print any warning gathered on the way (stderr)."""
        facts = self.facts(mission)
        try:
            return settle(facts, need)
        finally:
            for warning in facts.warnings:
                click.echo(warning, err=True)
            facts.warnings.clear()


def app() -> App:
    return click.get_current_context().ensure_object(App)


def requires(state: str, intent: Intent = Intent.LOCAL_ONLY) -> Callable[[F], F]:
    """Declare a hosted command's need; the wrapped body runs only if the machine lets it."""
    need = Need(hosted=True, state=state, intent=intent)

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def gated(*args: Any, **kwargs: Any) -> Any:
            verdict = app().ask(need, kwargs.get("mission"))
            if not verdict.proceed:
                assert verdict.outcome is not None
                raise CatalogFailure(verdict.outcome)
            app().verdict = verdict
            warn_if_stalled(kwargs.get("mission"))
            return fn(*args, **kwargs)

        gated.need = need  # type: ignore[attr-defined]
        return gated  # type: ignore[return-value]

    return decorate


def warn_if_stalled(mission: str | None) -> None:
    """Issue 10: events waiting long with no live daemon to send them are never silent (one stderr line)."""
    from orchestrator.syncstatus import stall_warning

    try:
        warning = stall_warning(app().facts(mission))
    except Exception:  # a warning must never break the command it decorates
        return
    if warning:
        click.echo(warning, err=True)


def facts(mission: str | None = None) -> LiveFacts:
    """The facts the gate settled on, for the command body to act on."""
    return app().facts(mission)


mission_option = click.option(
    "--mission", metavar="SLUG", default=None, help="Mission slug (default: the only or latest mission)."
)
