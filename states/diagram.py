"""Diagrams of the readiness machine, drawn from the very tables the CLI's machine is built from.

``states.machine`` keeps the hot path on the core ``transitions.Machine``; this module feeds the same
``STATES`` and ``TRANSITIONS`` to a ``GraphMachine`` only when a picture is asked for, so the picture
cannot drift from the behaviour. ``transitions.extensions`` (which loads asyncio and the diagram
code) is imported inside the functions below, never at module import.

Pure like the rest of ``states/``: it returns mermaid text or an in-memory graphviz ``Digraph``;
running ``dot`` to get SVG is I/O and lives in ``orchestrator.svg``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from states.machine import DISABLED, STATES, TRANSITIONS, sources

if TYPE_CHECKING:
    from transitions.extensions import GraphMachine

TITLE = "Hosted sync readiness"
MERMAID = "mermaid"
GRAPHVIZ = "graphviz"


def _listify(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _negate(term: str) -> str:
    return term[len("not "):] if term.startswith("not ") else f"not {term}"


def guard_terms(transition: dict[str, Any]) -> list[str]:
    """The transition's own guard: its conditions, and each ``unless`` negated."""
    return [*_listify(transition.get("conditions")), *(f"not {u}" for u in _listify(transition.get("unless")))]


def effective_guards() -> list[list[str]]:
    """For each row of ``TRANSITIONS``, the facts that must hold for the machine to take it.

    ``transitions`` tries a trigger's rows for one source in table order and takes the first whose
    guard passes, so a row is taken only when every earlier sibling's guard failed. Labelling each edge
    with its own guard alone would draw ``Ready --> Daemon_auto`` as unconditional; folding in the
    failed siblings shows what really moves it (``not sync_disabled and not policy_manual and
    host_reachable``).
    """
    guards: list[list[str]] = []
    for index, row in enumerate(TRANSITIONS):
        terms: list[str] = []
        for earlier in TRANSITIONS[:index]:
            shared = set(sources(earlier)) & set(sources(row))
            if earlier["trigger"] != row["trigger"] or not shared:
                continue
            own = guard_terms(earlier)
            if len(own) == 1:
                terms.append(_negate(own[0]))
            elif own:  # pragma: no cover - the table has single-fact guards; keep the rule general
                terms.append(f"not ({' and '.join(own)})")
        terms.extend(guard_terms(row))
        guards.append(list(dict.fromkeys(terms)))
    return guards


def edge_label(transition: dict[str, Any], guard: list[str], *, wrap: bool = False) -> str:
    """``trigger [fact and fact]``: the trigger that fires and the facts that route it here.

    ``wrap`` breaks the guard over lines with DOT's ``\\n`` escape, so graphviz draws a compact edge
    (mermaid has no line break in edge text, so it gets one line).
    """
    if not guard:
        return str(transition["trigger"])
    joiner = "\\nand " if wrap else " and "
    return f"{transition['trigger']} [{joiner.join(guard)}]"


def labelled_transitions(*, wrap: bool = False) -> list[dict[str, Any]]:
    """The machine's transition table, each row carrying the label the diagrams print on its edge."""
    return [
        {**row, "label": edge_label(row, guard, wrap=wrap)}
        for row, guard in zip(TRANSITIONS, effective_guards(), strict=True)
    ]


def graph_machine(engine: str = MERMAID) -> GraphMachine:
    """A GraphMachine over the same states and transitions the CLI's core machine is built from."""
    from transitions.extensions import GraphMachine

    return GraphMachine(
        model=None,
        states=list(STATES),
        transitions=labelled_transitions(wrap=engine == GRAPHVIZ),
        initial=DISABLED,
        auto_transitions=False,
        show_conditions=False,  # the labels already carry the (effective) guards
        graph_engine=engine,
        # mermaid front matter is YAML; the library writes the title line verbatim between the fences.
        title=f"title: {TITLE}" if engine == MERMAID else TITLE,
    )


def _graph(engine: str, highlight: str | None) -> Any:
    if highlight is not None and highlight not in STATES:
        raise ValueError(f"unknown state {highlight!r}")
    machine = graph_machine(engine)
    graph = machine.graph_cls(machine)  # a graph with no model: nothing is "active" unless asked
    if highlight is not None:
        graph.set_node_style(highlight, "active")
    return graph.get_graph(title=machine.title)


def mermaid(highlight: str | None = None) -> str:
    """Mermaid ``stateDiagram-v2`` text, optionally with ``highlight`` drawn as the active state."""
    source: str = _graph(MERMAID, highlight).source
    return "\n".join(line.rstrip() for line in source.splitlines()) + "\n"


def digraph(highlight: str | None = None) -> Any:
    """The graphviz ``Digraph`` (in memory; needs the ``graphviz`` Python package, not ``dot``).

    Imports ``graphviz`` first: without it the library would quietly fall back to mermaid.
    """
    import graphviz  # noqa: F401

    return _graph(GRAPHVIZ, highlight)


def machine_digest(highlight: str | None = None) -> str:
    """SHA-256 of what a drawing shows: states, labelled transitions, highlight.

    Stamped into each SVG so its staleness can be judged without Graphviz, and independently of the
    Graphviz and ``graphviz`` package versions, whose output (and layout) differ between releases.
    """
    import hashlib
    import json

    shown = {"title": TITLE, "states": list(STATES), "initial": DISABLED, "highlight": highlight,
             "transitions": labelled_transitions()}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=list).encode("utf-8")).hexdigest()
