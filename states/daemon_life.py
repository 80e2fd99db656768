"""The daemon's life: one declarative table, fed to a core ``transitions.Machine``, that says what state
the background daemon of a home is in (not running, starting, running, hung, died with work queued,
spec-kitty's ...) from raw facts the orchestrator gathers (``orchestrator.daemon.life``).

Every place that needs this answer asks a *question* rather than keeping its own if-chain: a tuple of
triggers fired in order (``QUESTIONS``). A question looks only as far as it needs, and the facts are
read lazily, so ``sync status`` reads the lock and nothing else, while ``ensure`` asks the daemon's
control endpoint only once the lock holder has published its state file. What a place shows for the
state it gets is a table here too (``STATUS_LINE``, ``DAEMON_STATUS_LINE``, ``SYNC_STATUS_WORD``).

Thread-safe by construction: the machine is built once and holds no per-call state; each ``look`` makes
its own model and fires the events on it without registering it (``add_model`` would mutate the shared
machine), so the daemon's worker threads may ask at once. Pure like the rest of ``states/``: no I/O; the
drawing (``diagrams/daemon.mmd``) comes from these very tables (``states.diagram.daemon_mermaid``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from states import catalog

if TYPE_CHECKING:
    from transitions import Machine

TITLE = "The sync daemon's life"

UNSEEN = "Unseen"  # nothing looked at yet (a question about spec-kitty's daemon alone rests here when none)
FOREIGN = "Foreign"  # spec-kitty's daemon holds this home (its state file, or a lock holder not ours)
FOREIGN_STALE = "ForeignStale"  # spec-kitty's state file names a pid that no longer runs
NOT_RUNNING = "NotRunning"  # nobody holds the lock
DIED = "Died"  # nobody holds the lock, a daemon left its files behind, and work waits
HELD = "Held"  # a daemon of ours (or someone this platform cannot name) holds the lock
STARTING = "Starting"  # the holder has not published its state file yet, or the one we spawned is on its way
PUBLISHED = "Published"  # the holder published its state file (not asked anything yet)
HUNG = "Hung"  # published, but its control endpoint does not answer
RETIRING = "Retiring"  # answers, but is stopping
OTHER_VERSION = "OtherVersion"  # answers, healthy, another version of this tool
RUNNING = "Running"  # answers, healthy, our version: the daemon to use

STATES: tuple[str, ...] = (UNSEEN, FOREIGN, FOREIGN_STALE, NOT_RUNNING, DIED, HELD, STARTING, PUBLISHED,
                           HUNG, RETIRING, OTHER_VERSION, RUNNING)

LOOK_FOREIGN, CHECK_PID, LOOK_LOCK, LOOK_LEFTOVERS, LOOK_STATE, ASK = (
    "look_foreign", "check_pid", "look_lock", "look_leftovers", "look_state", "ask")
TRIGGERS: tuple[str, ...] = (LOOK_FOREIGN, CHECK_PID, LOOK_LOCK, LOOK_LEFTOVERS, LOOK_STATE, ASK)

# A trigger's rows are tried in order for the current state; the first whose facts hold is taken.
TRANSITIONS: tuple[dict[str, Any], ...] = (
    # Whose daemon: spec-kitty's state file first (whether or not its pid runs), then the lock's holder.
    {"trigger": LOOK_FOREIGN, "source": UNSEEN, "dest": FOREIGN, "conditions": "foreign_file"},
    {"trigger": LOOK_FOREIGN, "source": UNSEEN, "dest": FOREIGN, "conditions": "foreign_holder"},
    {"trigger": CHECK_PID, "source": FOREIGN, "dest": FOREIGN_STALE, "unless": "foreign_alive"},
    # The lock, not the state file, is the truth about whether a daemon runs.
    {"trigger": LOOK_LOCK, "source": UNSEEN, "dest": HELD, "conditions": "lock_held"},
    {"trigger": LOOK_LOCK, "source": UNSEEN, "dest": STARTING, "conditions": "spawn_pending"},
    {"trigger": LOOK_LOCK, "source": UNSEEN, "dest": NOT_RUNNING},
    # Nobody holds it: a daemon that left its files behind while work waits died (a clean exit removes them).
    {"trigger": LOOK_LEFTOVERS, "source": NOT_RUNNING, "dest": DIED, "conditions": ["work_queued", "left_behind"]},
    # A holder is reachable only once it published its state file (port and secret).
    {"trigger": LOOK_STATE, "source": HELD, "dest": PUBLISHED, "conditions": "published"},
    {"trigger": LOOK_STATE, "source": HELD, "dest": STARTING},
    # Then it is asked over loopback: silent, stopping, another version, or ours.
    {"trigger": ASK, "source": PUBLISHED, "dest": HUNG, "unless": "answers"},
    {"trigger": ASK, "source": PUBLISHED, "dest": RETIRING, "unless": "healthy"},
    {"trigger": ASK, "source": PUBLISHED, "dest": OTHER_VERSION, "unless": "our_version"},
    {"trigger": ASK, "source": PUBLISHED, "dest": RUNNING},
)

# The questions the code asks, each the triggers it fires in order (a trigger with no row for the
# current state is skipped), and who asks it.
FOREIGN_Q, LEFTOVERS_Q, OWNER_Q, STOP_Q, ENSURE_Q, STATUS_Q = (
    "foreign", "leftovers", "owner", "stop", "ensure", "status")
QUESTIONS: dict[str, tuple[str, ...]] = {
    FOREIGN_Q: (LOOK_FOREIGN, CHECK_PID),  # may we touch anything here at all (every client, the daemon)
    LEFTOVERS_Q: (LOOK_LOCK, LOOK_LEFTOVERS),  # `sync status` and the stall warning: running, not, or died
    OWNER_Q: (LOOK_FOREIGN, CHECK_PID, LOOK_LOCK),  # the kill switch: a holder of ours to signal
    STOP_Q: (LOOK_LOCK, LOOK_STATE),  # `sync daemon stop`: has the holder published what stops it
    ENSURE_Q: (LOOK_LOCK, LOOK_STATE, ASK),  # a command handing a sync to the daemon
    STATUS_Q: (LOOK_FOREIGN, CHECK_PID, LOOK_LOCK, LOOK_STATE, ASK),  # `status`, `sync daemon status`
}
ASKED_BY: dict[str, str] = {
    FOREIGN_Q: "every client before it starts, stops or signals anything; the daemon before it publishes",
    LEFTOVERS_Q: "`sync status` (and, without leftovers, the stall warning of hosted commands)",
    OWNER_Q: "the kill switch (flag off, a daemon of ours still alive)",
    STOP_Q: "`sync daemon stop`",
    ENSURE_Q: "a command handing its sync to the daemon (start, use, replace)",
    STATUS_Q: "`status` (its daemon line) and `sync daemon status`",
}

FOREIGN_STATES = frozenset({FOREIGN, FOREIGN_STALE})
ANSWERING = frozenset({RETIRING, OTHER_VERSION, RUNNING})  # answered its control endpoint with its own pid
TROUBLED = frozenset({HUNG, RETIRING, OTHER_VERSION})  # published but not usable: replaced if it persists

# `spec-kitty status`'s one daemon line for each state its question ends in (starting reads "not running").
STATUS_LINE: dict[str, str] = {
    FOREIGN: catalog.DAEMON_LINE_FOREIGN,
    FOREIGN_STALE: catalog.DAEMON_LINE_FOREIGN_STALE,
    NOT_RUNNING: catalog.DAEMON_LINE_NOT_RUNNING,
    STARTING: catalog.DAEMON_LINE_NOT_RUNNING,
    HUNG: catalog.DAEMON_LINE_NOT_ANSWERING,
    **{state: catalog.DAEMON_LINE_RUNNING for state in ANSWERING},
}
# `spec-kitty sync daemon status`'s first line (an answering daemon's details follow it).
DAEMON_STATUS_LINE: dict[str, str] = {**STATUS_LINE, STARTING: catalog.DAEMON_LINE_STARTING}
# What `sync status` calls the daemon (its question looks at the lock only: anyone holding it runs).
SYNC_STATUS_WORD: dict[str, str] = {
    HELD: catalog.DAEMON_RUNNING_WORD,
    NOT_RUNNING: catalog.DAEMON_NOT_RUNNING_WORD,
    STARTING: catalog.DAEMON_NOT_RUNNING_WORD,  # only a command that spawned a daemon itself sees this
    DIED: catalog.DAEMON_DIED_WORD,
}


class LifeFacts(Protocol):
    """The raw facts the machine reads, each a property so ``orchestrator.daemon.life`` can read the
    world only when a condition asks."""

    @property
    def foreign_file(self) -> bool:
        """The home's state file is in spec-kitty's format (lines, not our JSON)."""
        ...
    @property
    def foreign_alive(self) -> bool:
        """The pid spec-kitty's daemon is known by still runs (always, when it was found holding the lock)."""
        ...
    @property
    def foreign_holder(self) -> bool:
        """The lock is held by a process that is neither ours, nor this process, nor unnameable."""
        ...
    @property
    def lock_held(self) -> bool: ...
    @property
    def spawn_pending(self) -> bool:
        """A daemon this process spawned has neither exited nor taken the lock yet."""
        ...
    @property
    def work_queued(self) -> bool: ...
    @property
    def left_behind(self) -> bool:
        """A daemon's state or lock file exists (a clean exit removes both)."""
        ...
    @property
    def published(self) -> bool:
        """Our state file was written by the process holding the lock."""
        ...
    @property
    def answers(self) -> bool:
        """Its control endpoint answered in time, with the published pid."""
        ...
    @property
    def healthy(self) -> bool:
        """The answer does not say it is stopping."""
        ...
    @property
    def our_version(self) -> bool: ...


class StaticLifeFacts:
    """Plain facts for tests: every fact given (default False), and a record of which were read."""

    NAMES = ("foreign_file", "foreign_alive", "foreign_holder", "lock_held", "spawn_pending", "work_queued",
             "left_behind", "published", "answers", "healthy", "our_version")

    def __init__(self, **facts: bool) -> None:
        unknown = set(facts) - set(self.NAMES)
        if unknown:
            raise TypeError(f"unknown facts: {sorted(unknown)}")
        self._facts = {name: bool(facts.get(name, False)) for name in self.NAMES}
        self.read: list[str] = []

    def __getattr__(self, name: str) -> bool:
        facts = self.__dict__.get("_facts", {})
        if name not in facts:
            raise AttributeError(name)
        self.read.append(name)
        return bool(facts[name])


class Life:
    """The machine's model: one per question; each condition reads one fact."""

    def __init__(self, facts: LifeFacts) -> None:
        self.facts = facts
        self.state: str = UNSEEN

    def foreign_file(self) -> bool:
        return bool(self.facts.foreign_file)

    def foreign_alive(self) -> bool:
        return bool(self.facts.foreign_alive)

    def foreign_holder(self) -> bool:
        return bool(self.facts.foreign_holder)

    def lock_held(self) -> bool:
        return bool(self.facts.lock_held)

    def spawn_pending(self) -> bool:
        return bool(self.facts.spawn_pending)

    def work_queued(self) -> bool:
        return bool(self.facts.work_queued)

    def left_behind(self) -> bool:
        return bool(self.facts.left_behind)

    def published(self) -> bool:
        return bool(self.facts.published)

    def answers(self) -> bool:
        return bool(self.facts.answers)

    def healthy(self) -> bool:
        return bool(self.facts.healthy)

    def our_version(self) -> bool:
        return bool(self.facts.our_version)


_machine: Machine | None = None


def build_machine() -> Machine:
    """The core machine over the table; refuses a model whose attributes shadow a trigger."""
    from transitions import Machine

    shadowed = set(TRIGGERS) & set(dir(Life))
    if shadowed:  # pragma: no cover - guards a silent library behaviour
        raise TypeError(f"Life attributes shadow triggers: {sorted(shadowed)}")
    return Machine(model=None, states=list(STATES), transitions=[dict(t) for t in TRANSITIONS], initial=UNSEEN,
                   auto_transitions=False, ignore_invalid_triggers=True, send_event=False)


def machine() -> Machine:
    """The process-wide machine, built on first use (two threads racing build two equal machines)."""
    global _machine
    if _machine is None:
        _machine = build_machine()
    return _machine


def look(facts: LifeFacts, question: str) -> str:
    """Where ``question``'s triggers take the machine, reading ``facts`` only as its rows ask."""
    events = machine().events
    model = Life(facts)
    for trigger in QUESTIONS[question]:
        event = events[trigger]
        if model.state in event.transitions:  # a trigger with no row here is skipped, not warned about
            event.trigger(model)
    return model.state


def outcomes(question: str) -> tuple[str, ...]:
    """The states ``question`` may end in, read off the table (in ``STATES`` order): each trigger takes
    a state to any of its rows' destinations, and leaves it where it is unless one row is unguarded."""
    reached = {UNSEEN}
    for trigger in QUESTIONS[question]:
        after: set[str] = set()
        for state in reached:
            rows = [row for row in TRANSITIONS if row["trigger"] == trigger and row["source"] == state]
            after.update(row["dest"] for row in rows)
            if not any("conditions" not in row and "unless" not in row for row in rows):
                after.add(state)
        reached = after
    return tuple(state for state in STATES if state in reached)
