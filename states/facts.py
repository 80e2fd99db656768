"""What the machine may know about the world, and what each command wants from it.

The machine reads facts through the ``Facts`` protocol only. ``orchestrator.facts.LiveFacts`` gathers
them lazily from env, config and files; tests pass ``StaticFacts``. Because facts are read lazily the
machine looks at exactly as much of the world as the command's need requires: ``--help`` reads one
environment variable, and the host is probed only by commands that talk to it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import NamedTuple, Protocol


class Intent(Enum):
    """How a command uses the remote side: decides probing and daemon involvement.

    Which triggers each intent fires once the need is met is the machine's table
    ``states.machine.INTENT_TRIGGERS``.
    """

    LOCAL_ONLY = "local-only"
    ONE_SHOT = "one-shot"  # talks to the host in-process; probes it; never involves the daemon
    REMOTE_REQUIRED = "remote-required"  # hands work to the background daemon (policy decides, then a probe)
    DAEMON = "daemon"  # the daemon's own question: may it run (policy decides; its sync meets the host itself)


class Facts(Protocol):
    """The facts the readiness machine reads: read-only, and may be computed lazily (cached properties).

    Declared as properties, not attributes: the machine never sets a fact, and ``LiveFacts`` computes
    each one on first read.
    """

    @property
    def rollout_enabled(self) -> bool: ...
    @property
    def has_token(self) -> bool: ...
    @property
    def auth_variant(self) -> str:
        """Why ``has_token`` is false: ``none``, ``other_host`` or ``expired`` (decided locally)."""
        ...
    @property
    def host_url(self) -> str | None: ...
    @property
    def is_bound(self) -> bool: ...
    @property
    def mission_slug(self) -> str: ...
    @property
    def daemon_policy(self) -> str: ...
    @property
    def sync_disabled(self) -> bool: ...

    @property
    def unreachable_reason(self) -> str:
        """Why the probe failed (``refused``, ``no_name``, ``timeout``); read only after it failed."""
        ...

    def host_reachable(self) -> bool:
        """Probe the host (bounded, one attempt) at most once: the answer is remembered, so asking the
        machine twice (or the machine, then ``sync explain``) never probes twice."""
        ...


class StaticFacts:
    """Plain facts for tests and for reasoning about hypothetical machines.

    A plain class rather than a dataclass: this module is imported by every command, and generating a
    dataclass at import costs more than the whole class is worth (see ``Need``).
    """

    def __init__(self, *, rollout_enabled: bool = True, has_token: bool = True,
                 host_url: str | None = "https://saas.example", is_bound: bool = True,
                 mission_slug: str = "demo-mission", daemon_policy: str = "auto", sync_disabled: bool = False,
                 reachable: bool = True, probe_calls: int = 0, on_probe: Callable[[], None] | None = None,
                 auth_variant: str = "none", unreachable_reason: str = "timeout") -> None:
        self.rollout_enabled = rollout_enabled
        self.has_token = has_token
        self.host_url = host_url
        self.is_bound = is_bound
        self.mission_slug = mission_slug
        self.daemon_policy = daemon_policy
        self.sync_disabled = sync_disabled
        self.reachable = reachable
        self.probed: bool | None = None  # what the one probe found (None: not probed yet)
        self.probe_calls = probe_calls
        self.on_probe = on_probe
        self.auth_variant = auth_variant  # why has_token is False: "none", "other_host" or "expired"
        self.unreachable_reason = unreachable_reason  # why the probe failed: "refused", "no_name", "timeout"

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "on_probe")
        return f"StaticFacts({shown})"

    def host_reachable(self) -> bool:
        """Probe once and remember, like ``LiveFacts``; count probes so tests can assert the machine did
        not probe when it must not."""
        if self.probed is None:
            self.probe_calls += 1
            if self.on_probe is not None:
                self.on_probe()
            self.probed = self.reachable
        return self.probed


# A NamedTuple, not a dataclass: defining a frozen dataclass costs ~3.6M instructions at import
# (callgrind), a NamedTuple ~0.4M, and this module is on every command's start-up path.
class Need(NamedTuple):
    """Declared beside each command: is it hosted, how far must readiness get, how is remote used."""

    hosted: bool
    state: str
    intent: Intent = Intent.LOCAL_ONLY


LOCAL = Need(hosted=False, state="Disabled", intent=Intent.LOCAL_ONLY)
