"""The work-package lane machine, as spec-kitty 3.2.7 defines it (``lane-transitions.json``).

A declarative table (nine lanes, the hidden initial lane ``genesis``, the alias ``doing``, 29 edges)
is fed to a core ``transitions`` machine, so ``wp move`` refuses exactly the moves spec-kitty refuses:
a work package that has never moved is in ``genesis`` and may only become ``planned`` or ``canceled``
(a typo such as ``WP99`` never invents work). ``--force`` (with a reason) allows any pair, the
same lane included. The diagram in ``diagrams/lanes.mmd`` is drawn from this same table.

Pure like the rest of ``states/``: no I/O; ``transitions.extensions`` is imported only to draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from states.contract import LANES

if TYPE_CHECKING:
    from transitions import Machine

TITLE = "Work-package lanes"
GENESIS = "genesis"
TERMINAL: tuple[str, ...] = ("canceled", "done")
ALIASES: dict[str, str] = {"doing": "in_progress"}

# (from, to): the moves allowed without --force, exactly spec-kitty's 29 edges.
EDGES: tuple[tuple[str, str], ...] = (
    (GENESIS, "planned"), (GENESIS, "canceled"),
    ("planned", "claimed"), ("planned", "blocked"), ("planned", "canceled"),
    ("claimed", "in_progress"), ("claimed", "blocked"), ("claimed", "canceled"),
    ("in_progress", "for_review"), ("in_progress", "approved"), ("in_progress", "planned"),
    ("in_progress", "blocked"), ("in_progress", "canceled"),
    ("for_review", "in_review"), ("for_review", "blocked"), ("for_review", "canceled"),
    ("in_review", "approved"), ("in_review", "done"), ("in_review", "in_progress"), ("in_review", "planned"),
    ("in_review", "blocked"), ("in_review", "canceled"),
    ("approved", "done"), ("approved", "in_progress"), ("approved", "planned"), ("approved", "blocked"),
    ("approved", "canceled"),
    ("blocked", "in_progress"), ("blocked", "canceled"),
)

STATES: tuple[str, ...] = (GENESIS, *LANES)


def transition_table() -> list[dict[str, Any]]:
    """One trigger per destination lane (``to_<lane>``), its sources taken from ``EDGES``."""
    return [
        {"trigger": f"to_{lane}", "source": [src for src, dest in EDGES if dest == lane], "dest": lane}
        for lane in LANES
        if any(dest == lane for _, dest in EDGES)
    ]


_MACHINE: Machine | None = None


def machine() -> Machine:
    """The core machine over the table (built once per process; models are added per question)."""
    global _MACHINE
    if _MACHINE is None:
        from transitions import Machine

        _MACHINE = Machine(model=None, states=list(STATES), transitions=transition_table(), initial=GENESIS,
                           auto_transitions=False)
    return _MACHINE


def canonical(lane: str) -> str | None:
    """The lane a user typed, with aliases resolved; None when it is no lane."""
    lane = ALIASES.get(lane, lane)
    return lane if lane in LANES else None


def allowed(from_lane: str, to_lane: str) -> bool:
    """Whether the machine takes ``from_lane -> to_lane`` without force."""
    event = machine().events.get(f"to_{to_lane}")
    return event is not None and from_lane in event.transitions


def reachable(from_lane: str) -> list[str]:
    """The lanes a move from ``from_lane`` may reach without force, in lane order."""
    return [lane for lane in LANES if allowed(from_lane, lane)]


def mermaid() -> str:
    """Mermaid ``stateDiagram-v2`` text of the lane machine, from the same table."""
    from transitions.extensions import GraphMachine

    graph_machine = GraphMachine(model=None, states=list(STATES), transitions=transition_table(), initial=GENESIS,
                                 auto_transitions=False, graph_engine="mermaid", title=f"title: {TITLE}")
    graph = graph_machine.graph_cls(graph_machine)
    source: str = cast(Any, graph.get_graph(title=graph_machine.title)).source  # mermaid's graph has ``source``
    from states.diagram import drop_unused_classdefs

    return drop_unused_classdefs("\n".join(line.rstrip() for line in source.splitlines()))
