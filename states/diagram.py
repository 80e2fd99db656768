"""Diagrams of the readiness machine, drawn from the very tables the CLI's machine is built from.

``states.machine`` keeps the hot path on the flat core ``transitions.Machine``; this module feeds the
same ``STATES`` and ``TRANSITIONS`` to a ``HierarchicalGraphMachine`` only when a picture is asked for,
so the picture cannot drift from the behaviour. The picture groups what the flat machine spells with
an underscore: ``Daemon`` is a composite of ``auto``/``manual``/``off`` (the library's nested names are
exactly ``Daemon_auto`` ...), and ``Unauthed`` shows its variants (``UNAUTHED_VARIANTS``). It also
draws what a command the machine let through can still meet while it runs (``RUN_OUTCOMES``), so every
path a command can take is on it. ``transitions.extensions`` (which loads asyncio and the diagram code)
is imported inside the functions below, never at module import.

Pure like the rest of ``states/``: it returns mermaid text or an in-memory graphviz ``Digraph``;
running ``dot`` to get SVG is I/O and lives in ``orchestrator.svg``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

from states.machine import (
    DAEMON_AUTO,
    DAEMON_MANUAL,
    DAEMON_OFF,
    DISABLED,
    RUN,
    RUN_OUTCOMES,
    RUN_SOURCES,
    STATES,
    TRANSITIONS,
    UNAUTHED,
    UNAUTHED_VARIANTS,
    sources,
)

if TYPE_CHECKING:
    from transitions.extensions import GraphMachine

TITLE = "Hosted sync readiness"
Engine = Literal["mermaid", "graphviz"]
MERMAID: Engine = "mermaid"
GRAPHVIZ: Engine = "graphviz"


def _listify(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _negate(term: str) -> str:
    return term[len("not "):] if term.startswith("not ") else f"not {term}"


def guard_terms(transition: dict[str, Any]) -> list[str]:
    """The transition's own guard: its conditions, and each ``unless`` negated."""
    return [*_listify(transition.get("conditions")), *(f"not {u}" for u in _listify(transition.get("unless")))]


def effective_guards(table: tuple[dict[str, Any], ...] = TRANSITIONS) -> list[list[str]]:
    """For each row of ``TRANSITIONS``, the facts that must hold for the machine to take it.

    ``transitions`` tries a trigger's rows for one source in table order and takes the first whose
    guard passes, so a row is taken only when every earlier sibling's guard failed. Labelling each edge
    with its own guard alone would draw ``Ready --> Daemon_auto`` as unconditional; folding in the
    failed siblings shows what really moves it (``not sync_disabled and not policy_manual and
    host_reachable``).
    """
    guards: list[list[str]] = []
    for index, row in enumerate(table):
        terms: list[str] = []
        for earlier in table[:index]:
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


# --- the composite view -------------------------------------------------------------------------------
DAEMON = "Daemon"
SEPARATOR = "_"  # transitions' nested-state separator: the child ``auto`` of ``Daemon`` is ``Daemon_auto``


def child_name(variant: str) -> str:
    """A child's name without the separator (``other_host`` -> ``otherHost``), so nesting stays one level."""
    head, *rest = variant.split(SEPARATOR)
    return head + "".join(part.title() for part in rest)


COMPOSITES: dict[str, tuple[str, ...]] = {
    UNAUTHED: tuple(child_name(v) for v in UNAUTHED_VARIANTS),
    DAEMON: tuple(state[len(DAEMON + SEPARATOR):] for state in (DAEMON_AUTO, DAEMON_MANUAL, DAEMON_OFF)),
}


def drawn_states() -> list[Any]:
    """The machine's states as drawn: composites with their children, then the run outcomes."""
    drawn: list[Any] = []
    for state in STATES:
        parent = next((p for p in COMPOSITES if state == p or state.startswith(p + SEPARATOR)), None)
        if parent is None:
            drawn.append(state)
        elif not any(isinstance(d, dict) and d["name"] == parent for d in drawn):
            drawn.append({"name": parent, "children": list(COMPOSITES[parent])})
    return [*drawn, *(outcome.name for outcome in RUN_OUTCOMES)]


def run_transitions() -> list[dict[str, Any]]:
    """``run [what happened]`` from every state a proceeding command talks to the host in."""
    return [{"trigger": RUN, "source": list(RUN_SOURCES), "dest": outcome.name,
             "label": f"{RUN} [{outcome.event}]"} for outcome in RUN_OUTCOMES]


def drawn_transitions(*, wrap: bool = False) -> list[dict[str, Any]]:
    return [*labelled_transitions(wrap=wrap), *run_transitions()]


def drop_unused_classdefs(text: str) -> str:
    """Mermaid text without the library's ``classDef`` lines that no ``Class`` line uses."""
    lines = text.splitlines()
    used = {line.split()[-1] for line in lines if line.strip().startswith("Class ")}
    return "\n".join(line for line in lines
                     if not (line.strip().startswith("classDef ") and line.split()[1] not in used)) + "\n"


def graph_machine(engine: Engine = MERMAID) -> GraphMachine:
    """A (hierarchical) GraphMachine over the same states and transitions the CLI's core machine runs."""
    from transitions.extensions import HierarchicalGraphMachine

    return HierarchicalGraphMachine(
        model=None,
        states=drawn_states(),
        transitions=drawn_transitions(wrap=engine == GRAPHVIZ),
        initial=DISABLED,
        auto_transitions=False,
        show_conditions=False,  # the labels already carry the (effective) guards
        graph_engine=engine,
        # mermaid front matter is YAML; the library writes the title line verbatim between the fences.
        title=f"title: {TITLE}" if engine == MERMAID else TITLE,
    )


def _graph(engine: Engine, highlight: str | None) -> Any:
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
    lines = [line.rstrip() for line in source.splitlines()]
    if highlight is not None and f"  Class {highlight} s_active" not in lines:  # a composite's child
        child = next(i for i, line in enumerate(lines) if line.endswith(f" as {highlight}"))
        lines.insert(child + 1, f"{lines[child][: -len(lines[child].lstrip())]}Class {highlight} s_active")
    return drop_unused_classdefs("\n".join(lines))


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

    shown = {"title": TITLE, "states": drawn_states(), "initial": DISABLED, "highlight": highlight,
             "transitions": drawn_transitions()}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=list).encode("utf-8")).hexdigest()


# --- the daemon-life machine ----------------------------------------------------------------------------
def daemon_transitions() -> list[dict[str, Any]]:
    """``states.daemon_life.TRANSITIONS`` with each row's label: its trigger and its effective guard."""
    from states import daemon_life

    return [{**row, "label": edge_label(row, guard)}
            for row, guard in zip(daemon_life.TRANSITIONS, effective_guards(daemon_life.TRANSITIONS), strict=True)]


def daemon_mermaid() -> str:
    """Mermaid ``stateDiagram-v2`` text of the daemon-life machine, from the table it runs."""
    from transitions.extensions import GraphMachine

    from states import daemon_life

    graph_machine = GraphMachine(model=None, states=list(daemon_life.STATES), transitions=daemon_transitions(),
                                 initial=daemon_life.UNSEEN, auto_transitions=False, show_conditions=False,
                                 graph_engine=MERMAID, title=f"title: {daemon_life.TITLE}")
    graph = graph_machine.graph_cls(graph_machine)
    source: str = cast(Any, graph.get_graph(title=graph_machine.title)).source  # mermaid's graph has ``source``
    return drop_unused_classdefs("\n".join(line.rstrip() for line in source.splitlines()))
