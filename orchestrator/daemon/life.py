"""What this home's daemon is doing, as the daemon-life machine (``states.daemon_life``) decides it.

This module gathers the raw facts the machine reads (spec-kitty's state file, the lock's holder, our
state file, the control endpoint's answer, leftovers), each on first use and then kept for the one
question being asked, and turns the machine's state into what each place shows. Nothing here decides
by itself: the places that need an answer (``status``, ``sync daemon status|stop``, ``sync status``, the
client, the kill switch, the daemon's own start) all ask ``look`` a question and map the state.

Stdlib only, like ``state``: ``spec-kitty status`` imports it when a state file exists.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orchestrator
from orchestrator.daemon import MODULE
from orchestrator.daemon.state import (
    UNKNOWN_HOLDER,
    ControlError,
    DaemonState,
    call,
    lock_holder,
    pid_alive,
    read_state,
)
from orchestrator.home import paths
from states import daemon_life
from states.daemon_life import ANSWERING, FOREIGN_Q, FOREIGN_STALE, FOREIGN_STATES, HUNG, STARTING, STATUS_Q

if TYPE_CHECKING:
    import subprocess

HEALTH = "/health"


class Foreign(NamedTuple):
    """A daemon of spec-kitty-cli in this home: its pid (None when unknown) and whether that pid lives."""

    pid: int | None
    alive: bool


def foreign_state(path: Path | None = None) -> Foreign | None:
    """The ``sync-daemon`` file when spec-kitty wrote it: lines url, port, token, pid (ours is JSON)."""
    try:
        text = (path or paths.daemon_state_file()).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0].startswith("{") or len(lines) < 2 or not lines[1].isdigit():
        return None
    pid = int(lines[3]) if len(lines) >= 4 and lines[3].isdigit() else None
    return Foreign(pid, pid is not None and pid_alive(pid))


def _is_ours(pid: int) -> bool:
    """Whether ``pid`` runs this tool's daemon (``python -m orchestrator.daemon``); without ``/proc`` to
    ask, a holder is taken to be ours (the state file says otherwise when it is spec-kitty's)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self/cmdline").exists()
    except OSError:
        return True
    return MODULE.encode() in argv


class LiveLife:
    """The facts ``states.daemon_life.LifeFacts`` names, read from the world on first use and kept: one
    instance per question, so a question sees one reading and reads only what its rows ask for.

    ``endpoint`` is what a published daemon is asked (``/health`` says whether it is stopping; a stopping
    daemon refuses ``/status``, so an answer there means it is not); ``spawned`` is a daemon this process
    started; ``own_lock`` says this process holds the lock (the daemon itself), so the holder is not read.
    """

    def __init__(self, *, endpoint: str = HEALTH, timeout: float = 1.0, work_queued: bool = False,
                 spawned: subprocess.Popen[bytes] | None = None, own_lock: bool = False) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.work_queued = work_queued
        self.spawned = spawned
        self.own_lock = own_lock

    @cached_property
    def foreign(self) -> Foreign | None:
        return foreign_state()

    @cached_property
    def holder(self) -> int | None:
        return os.getpid() if self.own_lock else lock_holder()

    @cached_property
    def state(self) -> DaemonState | None:
        return read_state()

    @cached_property
    def answer(self) -> dict[str, Any] | None:
        """The published daemon's answer on ``endpoint``, or None when it gives none in time (or another
        process answers on its port)."""
        state = self.state
        if state is None:
            return None
        try:
            answer = call(state, "GET", self.endpoint, timeout=self.timeout)
        except ControlError:
            return None
        return answer if answer.get("pid") == state.pid else None

    @property
    def foreign_file(self) -> bool:
        return self.foreign is not None

    @property
    def foreign_alive(self) -> bool:
        return self.foreign_daemon.alive  # a lock holder runs, by definition

    @property
    def foreign_holder(self) -> bool:
        holder = self.holder
        if holder is None or holder == UNKNOWN_HOLDER or holder == os.getpid():
            return False
        ours = self.state
        return not ((ours is not None and ours.pid == holder) or _is_ours(holder))

    @property
    def lock_held(self) -> bool:
        return self.holder is not None

    @property
    def spawn_pending(self) -> bool:
        return self.spawned is not None and self.spawned.poll() is None

    @property
    def left_behind(self) -> bool:
        return paths.daemon_state_file().exists() or paths.daemon_lock_file().exists()

    @property
    def published(self) -> bool:
        state, holder = self.state, self.holder
        return state is not None and holder is not None and holder in (state.pid, UNKNOWN_HOLDER)

    @property
    def answers(self) -> bool:
        return self.answer is not None

    @property
    def healthy(self) -> bool:
        return self.endpoint != HEALTH or (self.answer or {}).get("status") == "ok"

    @property
    def our_version(self) -> bool:
        return (self.answer or {}).get("version") == orchestrator.__version__

    @property
    def foreign_daemon(self) -> Foreign:
        """spec-kitty's daemon as found: its state file, else the lock holder that is not ours."""
        return self.foreign or Foreign(self.holder, True)


class Sighting(NamedTuple):
    """The machine's state for one question, and the facts it was read from."""

    state: str
    facts: LiveLife


def look(question: str, **facts: Any) -> Sighting:
    """Ask the daemon-life machine ``question`` about this home (keyword arguments go to ``LiveLife``)."""
    live = LiveLife(**facts)
    return Sighting(daemon_life.look(live, question), live)


def foreign_daemon(*, own_lock: bool = False) -> Foreign | None:
    """spec-kitty's daemon, when this home has one: a state file in its format (whether or not its pid
    still runs: we never overwrite or remove its file), or a lock held by a process that is not ours
    (spec-kitty holds the lock while it starts its daemon). The one answer every daemon decision of
    ours asks before starting, stopping, signalling or publishing anything."""
    seen = look(FOREIGN_Q, own_lock=own_lock)
    return seen.facts.foreign_daemon if seen.state in FOREIGN_STATES else None


class Status(NamedTuple):
    """Whether the daemon runs: the machine's state and the JSON ``sync daemon status --json`` prints."""

    state: str
    info: dict[str, Any]


def daemon_status(endpoint: str = HEALTH, *, timeout: float) -> Status:
    """The one answer behind ``spec-kitty status`` and ``sync daemon status``.

    ``info`` is ``{"running": False}``, ``{"running": False, "starting": True, "pid"}``,
    ``{"running": False, "answering": False, "pid"}``, ``{"running": False, "foreign": True, "pid",
    "alive"}`` or the daemon's own answer on ``endpoint`` plus ``running: True``.
    """
    seen = look(STATUS_Q, endpoint=endpoint, timeout=timeout)
    facts = seen.facts
    info: dict[str, Any] = {"running": False}
    if seen.state in FOREIGN_STATES:
        foreign = facts.foreign_daemon
        info.update(foreign=True, pid=foreign.pid, alive=foreign.alive)
    elif seen.state == STARTING:
        info.update(starting=True, pid=facts.holder)
    elif seen.state == HUNG and facts.state is not None:
        info.update(answering=False, pid=facts.state.pid)
    elif seen.state in ANSWERING:
        info = dict(facts.answer or {}, running=True)
    return Status(seen.state, info)


def format_uptime(seconds: float) -> str:
    """``3h 4m``, ``4m 2s``, ``7s``: enough precision for an operator glancing at status."""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def summary_line(*, timeout: float = 0.3) -> str | None:
    """One line for ``spec-kitty status``; None (and no network at all) when no state file exists."""
    if not paths.daemon_state_file().exists():
        return None
    state, info = daemon_status(HEALTH, timeout=timeout)
    if state in FOREIGN_STATES:
        return foreign_line(state, info)
    return daemon_life.STATUS_LINE[state].format(pid=info.get("pid"), version=info.get("version", "?"),
                                                 uptime=format_uptime(float(info.get("uptime") or 0)))


def foreign_line(state: str, info: dict[str, Any]) -> str:
    """``sync daemon status``'s (and ``status``'s) line for spec-kitty's daemon (a stale file's pid may be
    unknown)."""
    pid = info.get("pid") or "?" if state == FOREIGN_STALE else info.get("pid")
    return daemon_life.STATUS_LINE[state].format(pid=pid)
