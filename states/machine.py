"""The readiness machine: a declarative table fed to the core ``transitions.Machine``.

Only the core machine is imported here: ``transitions.extensions`` (graphs, nesting) drags in asyncio
and the diagram code at every start. The diagram generator feeds the very same tables to a
HierarchicalGraphMachine (``states.diagram``: composites for what is flat here), so the picture cannot
drift from the behaviour. ``settle`` is the contract every caller goes through, the CLI's gate and the
daemon alike; its steps read only the tables below.

Library facts the design relies on: ``on_enter_<state>`` does not fire for the initial state (we use
no enter callbacks; settling is explicit), and a model attribute that shares a trigger's name silently
wins over the trigger (``build_machine`` refuses such a model).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from transitions import Machine

from states import catalog
from states.facts import Facts, Intent, Need

DISABLED = "Disabled"
UNAUTHED = "Unauthed"
NO_HOST = "NoHost"
UNBOUND = "Unbound"
UNREACHABLE = "Unreachable"
READY = "Ready"
DAEMON_AUTO = "Daemon_auto"
DAEMON_MANUAL = "Daemon_manual"
DAEMON_OFF = "Daemon_off"


class Prerequisite(NamedTuple):
    """A readiness step: the machine rests in ``state`` until ``fact`` holds."""

    state: str
    fact: str
    label: str


# The chain, in the order the machine checks it. Local checks come first; the host is probed last.
PREREQUISITES: tuple[Prerequisite, ...] = (
    Prerequisite(DISABLED, "rollout_enabled", "hosted sync enabled"),
    Prerequisite(UNAUTHED, "has_token", "auth token present"),
    Prerequisite(NO_HOST, "has_host", "host URL configured"),
    Prerequisite(UNBOUND, "is_bound", "mission bound"),
)
STATE_ORDER: tuple[str, ...] = (*(p.state for p in PREREQUISITES), READY)
STATES: tuple[str, ...] = (*STATE_ORDER, UNREACHABLE, DAEMON_AUTO, DAEMON_MANUAL, DAEMON_OFF)

ADVANCE, PROBE, DISPATCH = "advance", "probe_host", "dispatch"

TRANSITIONS: tuple[dict[str, Any], ...] = (
    *(
        {"trigger": ADVANCE, "source": step.state, "dest": nxt, "conditions": step.fact}
        for step, nxt in zip(PREREQUISITES, STATE_ORDER[1:], strict=True)
    ),
    # Background work: policy decides, first match wins; manual never probes. From Ready for a command's
    # job; from Unauthed (hosted sync on, nothing else asked) for the daemon's own "may I live".
    {"trigger": DISPATCH, "source": [UNAUTHED, READY], "dest": DAEMON_OFF, "conditions": "sync_disabled"},
    {"trigger": DISPATCH, "source": [UNAUTHED, READY], "dest": DAEMON_MANUAL, "conditions": "policy_manual"},
    {"trigger": DISPATCH, "source": [UNAUTHED, READY], "dest": DAEMON_AUTO},
    # Talking to the host: probe from wherever the need was met (a daemon job only once policy allowed it).
    {"trigger": PROBE, "source": [UNBOUND, READY, DAEMON_AUTO], "dest": UNREACHABLE, "unless": "host_reachable"},
)

# What each intent fires, in order, once the chain has reached the command's need (``settle``). A
# trigger with no row for the current state does nothing (``ignore_invalid_triggers``).
INTENT_TRIGGERS: dict[Intent, tuple[str, ...]] = {
    Intent.LOCAL_ONLY: (),
    Intent.ONE_SHOT: (PROBE,),
    Intent.REMOTE_REQUIRED: (DISPATCH, PROBE),
    Intent.DAEMON: (DISPATCH,),
}


def sources(transition: dict[str, Any]) -> tuple[str, ...]:
    """A transition row's source states (the table writes one as a string, several as a list)."""
    source = transition["source"]
    return (source,) if isinstance(source, str) else tuple(source)


# Terminal states that stop a command even though its prerequisites were met.
STOP_STATES = frozenset({UNREACHABLE, DAEMON_MANUAL, DAEMON_OFF})
OUTCOMES: dict[str, catalog.Failure] = {
    DISABLED: catalog.DISABLED,
    UNAUTHED: catalog.UNAUTHED,
    NO_HOST: catalog.NO_HOST,
    UNBOUND: catalog.UNBOUND,
    UNREACHABLE: catalog.UNREACHABLE,
    DAEMON_MANUAL: catalog.DAEMON_MANUAL,
    DAEMON_OFF: catalog.DAEMON_DISABLED,
}

# What a command the machine let through can still meet while it talks to the host. Not states of the
# machine (the client raises them mid-run, as typed errors with this wording); the diagrams draw them
# so that every path a command can take is on the picture.
class RunOutcome(NamedTuple):
    """An ending met while running: its name in the diagrams, what happened, the operator's wording."""

    name: str
    event: str
    failures: tuple[catalog.Failure, ...]


RUN = "run"  # the diagrams' name for "the command runs and talks to the host"
RUN_SOURCES: tuple[str, ...] = (UNBOUND, READY, DAEMON_AUTO)  # where a proceeding command meets the host
RUN_OUTCOMES: tuple[RunOutcome, ...] = (
    RunOutcome("SessionExpired", "host answers 401", (catalog.SESSION_EXPIRED,)),
    RunOutcome("HostLost", "connection lost or deadline", (catalog.CONNECTION_LOST, catalog.SYNC_DEADLINE)),
)

# Unauthed says why, decided from local facts only (``auth_variant``); "none" keeps the quickstart wording.
UNAUTHED_VARIANTS: dict[str, catalog.Failure] = {
    "none": catalog.UNAUTHED,
    "other_host": catalog.UNAUTHED_OTHER_HOST,
    "expired": catalog.UNAUTHED_EXPIRED,
    "legacy": catalog.UNAUTHED_LEGACY,
}


# Unreachable says why, from the probe's answer; "timeout" keeps the "within 2 seconds" wording.
UNREACHABLE_VARIANTS: dict[str, catalog.Failure] = {
    "timeout": catalog.UNREACHABLE,
    "refused": catalog.UNREACHABLE_REFUSED,
    "no_name": catalog.UNREACHABLE_NO_NAME,
}


class Readiness:
    """The machine's model: condition callbacks read the (lazy) facts, nothing else."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.state: str = DISABLED

    def rollout_enabled(self) -> bool:
        return bool(self.facts.rollout_enabled)

    def has_token(self) -> bool:
        return bool(self.facts.has_token)

    def has_host(self) -> bool:
        return bool(self.facts.host_url)

    def is_bound(self) -> bool:
        return bool(self.facts.is_bound)

    def sync_disabled(self) -> bool:
        return bool(self.facts.sync_disabled)

    def policy_manual(self) -> bool:
        return self.facts.daemon_policy == "manual"

    def host_reachable(self) -> bool:
        return bool(self.facts.host_reachable())


def build_machine() -> Machine:
    """Build the core machine from the tables; refuses a model whose attributes shadow triggers."""
    shadowed = {ADVANCE, PROBE, DISPATCH} & set(dir(Readiness))
    if shadowed:  # pragma: no cover - guards a silent library behaviour
        raise TypeError(f"Readiness attributes shadow triggers: {sorted(shadowed)}")
    return Machine(
        model=None,
        states=list(STATES),
        transitions=[dict(t) for t in TRANSITIONS],
        initial=DISABLED,
        auto_transitions=False,
        ignore_invalid_triggers=True,
        send_event=False,
    )


_machine: Machine | None = None


def machine() -> Machine:
    """The process-wide machine, built on first use."""
    global _machine
    if _machine is None:
        _machine = build_machine()
    return _machine


class Verdict:
    """Where the machine settled for a command, and what to tell the operator if it stops there.

    A plain class (no dataclass generation at import): compared and shown by state and proceed only,
    since the facts are lazy and reading them could touch the world.
    """

    __slots__ = ("facts", "proceed", "state")

    def __init__(self, state: str, proceed: bool, facts: Facts) -> None:
        self.state = state
        self.proceed = proceed
        self.facts = facts

    def __repr__(self) -> str:
        return f"Verdict(state={self.state!r}, proceed={self.proceed!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verdict) and (self.state, self.proceed) == (other.state, other.proceed)

    def __hash__(self) -> int:
        return hash((self.state, self.proceed))

    # Slug and URL are read from the (lazy) facts only when wording needs them: ``--help`` with the
    # flag off must not walk the repository or parse config.toml (a corrupt file would break it).
    @property
    def slug(self) -> str:
        return self.facts.mission_slug

    @property
    def url(self) -> str | None:
        return self.facts.host_url

    @property
    def outcome(self) -> catalog.Failure | None:
        """The catalog entry for this state, with slug and URL filled in (None when proceeding)."""
        if self.proceed:
            return None
        entry = OUTCOMES[self.state]
        if self.state == UNAUTHED:  # which Unauthed: no session at all, one for other hosts, expired
            entry = UNAUTHED_VARIANTS.get(self.facts.auth_variant, entry)
            if "{url}" in entry.next_action:
                entry = entry._replace(next_action=entry.next_action.format(url=self.url or ""))
        if self.state == UNREACHABLE:  # refused, unresolvable or silent: each in its own words
            entry = UNREACHABLE_VARIANTS.get(self.facts.unreachable_reason, entry)
        fields = {}
        if "{slug}" in entry.message:
            fields["slug"] = self.slug
        if "{url}" in entry.message:
            fields["url"] = self.url or ""
        return entry.filled(**fields)


def rank(state: str) -> int:
    """Position in the prerequisite chain; terminal states rank as Ready."""
    return STATE_ORDER.index(state) if state in STATE_ORDER else len(STATE_ORDER) - 1


def settle(facts: Facts, need: Need) -> Verdict:
    """The machine's contract with a command, in three steps that each read a table above:

    1. ``advance`` along ``PREREQUISITES`` until the chain reaches ``need.state`` or a fact is missing;
    2. if it reached the need, fire ``INTENT_TRIGGERS[need.intent]`` in order;
    3. proceed unless the chain stopped short or the machine rests in one of ``STOP_STATES``.

    ``states.diagram`` draws exactly these paths (and what a proceeding command may still meet).

    Thread-safe: the daemon's worker threads settle at once. Each call fires the shared machine's events
    on its own model without ``add_model`` (which would mutate the machine's model list from every
    thread); the machine itself holds no per-call state.
    """
    model = Readiness(facts)  # starts in Disabled; never registered on the shared machine (see below)
    events = machine().events
    target = rank(need.state)
    while rank(model.state) < target and events[ADVANCE].trigger(model):
        pass
    reached = rank(model.state) >= target
    if reached:
        for trigger in INTENT_TRIGGERS[need.intent]:
            events[trigger].trigger(model)
    return Verdict(model.state, reached and model.state not in STOP_STATES, facts)


# --- the needs that are not declared beside a command ----------------------------------------------------
# ``status`` (its hosted line) and ``wp move`` (queue the row for upload?) ask the same question.
READY_HERE = Need(hosted=True, state=READY)
# The daemon, every tick: may a background daemon live here at all (hosted sync on, policy allows)?
DAEMON_LIFE = Need(hosted=True, state=UNAUTHED, intent=Intent.DAEMON)
# The daemon, before each sync of a target: the chain to Ready, then policy (its sync meets the host itself).
DAEMON_RUN = Need(hosted=True, state=READY, intent=Intent.DAEMON)
