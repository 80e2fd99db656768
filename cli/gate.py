"""The one place a command asks the readiness machine whether it may run.

A hosted command declares its need beside its definition with ``@requires(state, intent)``; the gate
gathers facts, lets the machine settle, and either runs the command or ends it with the catalog's
wording for the state the machine settled in. No command re-implements the prerequisite chain.

Commands reach the world through one ``orchestrator.context.Context`` (click's ``ctx.obj``, built once by
``cli.main``): ``context()`` hands it out, ``facts(mission)`` the machine's facts gathered from it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from orchestrator.context import Context
from orchestrator.errors import CatalogFailure, SpecKittyError
from states import catalog
from states.facts import Intent, Need
from states.machine import Verdict, settle

if TYPE_CHECKING:
    from orchestrator.facts import LiveFacts

P = ParamSpec("P")
R = TypeVar("R")


def context() -> Context:
    """The invocation's one context (click's ``ctx.obj``): built by ``cli.main`` or handed in by a test."""
    return click.get_current_context().ensure_object(Context)


def ask(need: Need, mission: str | None = None) -> Verdict:
    """Let the machine settle for ``need`` and print any warning gathered on the way (stderr)."""
    try:
        return settle(facts(mission), need)
    finally:
        print_warnings(context())


def print_warnings(where: Context) -> None:
    """The warnings gathering facts produced (a malformed or refused auth.json), once each, on stderr: a
    command body that reads the session store when the machine did not prints them itself."""
    for warning in where.warnings:
        click.echo(warning, err=True)
    where.warnings.clear()


def requires(state: str, intent: Intent = Intent.LOCAL_ONLY, *, one_mission: bool = False,
             on_stop: Callable[[Verdict, str | None], None] | None = None
             ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare a hosted command's need; the wrapped body runs only if the machine lets it.

    ``one_mission``: the command acts on exactly one mission, so several missions and no ``--mission``
    is a usage error (exit 2, listing them) before anything is asked or written. ``on_stop(verdict,
    mission)``: what the command leaves behind when the machine stops it (best effort, before the wording).
    """
    need = Need(hosted=True, state=state, intent=intent)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def gated(*args: P.args, **kwargs: P.kwargs) -> R:
            mission: str | None = kwargs.get("mission")  # type: ignore[assignment]  # click passes options by name
            if one_mission:
                require_one_mission(mission)
            verdict = ask(need, mission)
            if not verdict.proceed:
                assert verdict.outcome is not None
                if on_stop is not None:
                    import contextlib

                    with contextlib.suppress(Exception):  # a record of the failure never replaces the failure
                        on_stop(verdict, mission)
                raise CatalogFailure(verdict.outcome, verdict.state.lower())
            warn_if_stalled(mission)
            return fn(*args, **kwargs)

        gated.need = need  # type: ignore[attr-defined]
        return gated

    return decorate


def json_error(error: SpecKittyError) -> dict[str, Any]:
    """``--json`` is always JSON: an error is an object with a stable ``error`` code (the candidates when
    no single mission was named, the one next action when the catalog has one)."""
    from orchestrator.errors import MissionChoiceError

    body: dict[str, Any] = {"error": error.code, "message": getattr(error, "headline", None) or str(error)}
    if isinstance(error, MissionChoiceError):
        from orchestrator.missions.handles import candidates

        body["candidates"] = candidates(error.folders)
    if isinstance(error, CatalogFailure):
        body["next_action"] = error.failure.next_action
    return body


def json_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """A command with ``--json``: its failures (the gate's included, so put this above ``requires``) are
    printed as a JSON object on stdout, never as prose; the exit code is the one the prose would have."""

    @functools.wraps(fn)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (SpecKittyError, OSError) as problem:
            if not kwargs.get("as_json") or isinstance(problem, BrokenPipeError):
                raise
            error = as_error(problem)
            import json

            click.echo(json.dumps(json_error(error), indent=2, sort_keys=True))
            click.get_current_context().exit(int(error.exit_code))

    return wrapped


def as_error(problem: SpecKittyError | OSError) -> SpecKittyError:
    """An OS error (a file that is a folder, a symlink loop, a home under a file) is the operator's to fix,
    not a bug: one line naming the file and the reason."""
    if isinstance(problem, SpecKittyError):
        return problem
    import os

    reason = problem.strerror or str(problem)
    if problem.filename is None:
        return SpecKittyError(catalog.OS_PROBLEM_NO_PATH.format(reason=reason))
    from states.contract import printable  # a file's name may hold anything, a terminal escape included

    return SpecKittyError(catalog.OS_PROBLEM.format(path=printable(os.fsdecode(problem.filename)), reason=reason))


def warn_if_stalled(mission: str | None) -> None:
    """Events waiting long with no live daemon to send them are never silent (one stderr line)."""
    from orchestrator.sync.status import stall_warning

    try:
        where = facts(mission)
        warning = stall_warning(where, now=where.context.clock())
    except Exception:  # noqa: BLE001 - a warning must never break the command it decorates
        return
    if warning:
        click.echo(warning, err=True)


def facts(mission: str | None = None) -> LiveFacts:
    """The facts the gate settled on, for the command body to act on."""
    return context().facts(mission)


def each_mission(mission: str | None) -> list[LiveFacts]:
    """What a command that can cover every mission acts on: the one ``--mission`` names (or the only one),
    else every bound mission in slug order (the gate has already found at least one bound)."""
    current = facts(mission)
    if mission or len(current.missions) <= 1:
        return [current]
    return [facts(slug) for slug in current.bound_missions] or [current]


def every_mission(mission: str | None) -> list[LiveFacts]:
    """What event sync acts on: the one ``--mission`` names, else every mission of the repository in slug
    order (a repository without missions is itself the one target: its tracker binding may still sync)."""
    current = facts(mission)
    if mission or len(current.missions) <= 1:
        return [current]
    return [facts(slug) for slug in current.missions]


def require_one_mission(mission: str | None) -> None:
    """Several missions and no ``--mission``: exit 2 listing them (``slug (id prefix)``), writing nothing."""
    from orchestrator.missions.handles import require_one

    require_one(facts(mission).project_root, mission)


mission_option = click.option(
    "--mission", metavar="HANDLE", default=None,
    help="Mission: slug, number (082), slug without number, or mission_id prefix (default: the only mission).",
)
