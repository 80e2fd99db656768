"""What `sync explain` asks the machine: every prerequisite's verdict, and the one next action.

The machine itself stops at the first missing prerequisite, which is right for deciding but thin for
explaining: an operator fixing a fresh machine wants to see every gap at once. So each prerequisite is
evaluated here with the machine's own condition callbacks (``Readiness``), never a second copy of
the rules, while the settled state still comes from ``states.machine.settle``.
"""

from __future__ import annotations

from dataclasses import dataclass

from states import catalog
from states.facts import Facts, Intent, Need
from states.machine import PREREQUISITES, READY, Prerequisite, Readiness, Verdict


@dataclass(frozen=True)
class Check:
    """One prerequisite and whether it holds for these facts."""

    prerequisite: Prerequisite
    holds: bool


def check_prerequisites(facts: Facts) -> tuple[Check, ...]:
    """Every prerequisite in chain order, each judged by the condition the machine uses for it.

    Reads every local fact (no probe): explaining is the one place where looking past the first gap
    is the point.
    """
    model = Readiness(facts)
    return tuple(Check(step, bool(getattr(model, step.fact)())) for step in PREREQUISITES)


def explain_need(probe: bool) -> Need:
    """Settle as far as the chain goes; probing is the operator's explicit choice (``--probe``)."""
    return Need(hosted=True, state=READY, intent=Intent.ONE_SHOT if probe else Intent.LOCAL_ONLY)


def next_step(verdict: Verdict) -> catalog.Failure:
    """The one thing to tell the operator: the state's failure, or how to use a ready machine."""
    if verdict.outcome is not None:
        return verdict.outcome
    return catalog.EXPLAIN_READY.filled(slug=verdict.slug)
