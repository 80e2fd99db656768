"""Where sync stands, per bound mission and host, without a socket: the queue, its dead letters and
conflicts, and whether a daemon is alive to send what waits (spec-kitty's users once lost five weeks of
sync to a daemon that died silently; this module is how that can never be silent again).

Local only: reads the queue (never creating it), the repo's bindings and the daemon's lock. Imported
only by hosted commands and by ``status`` with the rollout flag on.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from orchestrator.facts import LiveFacts
from orchestrator.home import paths
from states import catalog

if TYPE_CHECKING:
    from orchestrator.sync.mission_ref import MissionRef

STALL_AFTER = 600.0  # seconds an event may wait with no live daemon before every hosted command warns


def daemon_word(*, work_queued: bool = False) -> tuple[str, bool]:
    """``(wording, alive)``: the daemon is running (its lock is held), or not; "died" when it left its
    state or lock file behind (a clean exit removes both) and work is waiting. The daemon-life machine
    decides (``states.daemon_life``); this only looks at the lock, and at leftovers when work waits."""
    from orchestrator.daemon.life import look
    from states.daemon_life import HELD, LEFTOVERS_Q, SYNC_STATUS_WORD

    state = look(LEFTOVERS_Q, work_queued=work_queued).state
    return SYNC_STATUS_WORD[state], state == HELD


def missions_on_host(facts: LiveFacts, mission: str | None) -> list[tuple[MissionRef, str]]:
    """Each of this repo's missions (or ``mission``) on the effective host, with that host's URL as
    configured (what ``sync status`` prints; the ref holds its origin)."""
    from orchestrator.missions.folders import list_missions
    from orchestrator.project.identity import IdentityError, read_identity
    from orchestrator.sync.outbox import mission_ref

    effective = facts.host_url or ""  # first: a broken config or host URL is the answer, whatever else is here
    root = facts.project_root
    slugs = [facts.mission_slug] if mission else ([p.name for p in list_missions(root)] if root else [])
    try:
        identity = read_identity(facts.repo_root)
    except IdentityError:
        identity = None
    if identity is None:
        return []
    pairs = [(effective, slug) for slug in slugs if effective]
    found = []
    for host, slug in pairs:
        ref = mission_ref(facts, slug, host)
        if ref is not None:
            found.append((ref, host))
    return found


def gather(facts: LiveFacts, mission: str | None, *, now: float | None = None) -> dict[str, Any]:
    """Everything ``sync status`` shows, as plain JSON values."""
    from orchestrator.sync.deadletters import DeadLetters
    from orchestrator.sync.history import SyncHistory
    from orchestrator.sync.queue import EventQueue
    from orchestrator.tracker.ledger import TrackerLedger

    now = time.time() if now is None else now
    rows = []
    with EventQueue(paths.queue_file()) as queue:
        for ref, host in missions_on_host(facts, mission):
            key = ref.key
            oldest = queue.oldest_queued_at(key)
            success, error = SyncHistory(queue).health(key)
            rows.append({
                "mission": ref.slug, "project": ref.project, "host": host,
                "queued": queue.count(key),
                "oldest_waiting_seconds": None if oldest is None else max(0, round(now - oldest)),
                "last_success": success,
                "last_error": error,
                "parked": [{"ref": p.ref, "reason": p.reason} for p in DeadLetters(queue).parked(key)],
                "conflicts": TrackerLedger(queue).conflicts(key),
            })
    word, _ = daemon_word(work_queued=any(r["queued"] for r in rows))
    return {"missions": rows, "daemon": word}


def age(seconds: float | None) -> str:
    """``42s``, ``12m``, ``3h``, ``5d``: how long the oldest event has waited."""
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def render(report: dict[str, Any]) -> list[str]:
    lines = []
    if not report["missions"]:
        lines.append(catalog.SYNC_STATUS_NO_BINDINGS)
    for row in report["missions"]:
        lines.append(catalog.SYNC_STATUS_HEADING.format(mission=row["mission"], url=row["host"]))
        if row["queued"]:
            waited = age(row["oldest_waiting_seconds"])
            lines.append(catalog.SYNC_STATUS_QUEUED.format(queued=row["queued"], age=waited))
        else:
            lines.append(catalog.SYNC_STATUS_QUEUED_NONE)
        lines.append(catalog.SYNC_STATUS_LAST_SUCCESS.format(time=row["last_success"] or catalog.SYNC_STATUS_NONE))
        error = row["last_error"]
        lines.append(catalog.SYNC_STATUS_LAST_ERROR.format(time=error["time"], error=error["error"]) if error
                     else catalog.SYNC_STATUS_LAST_ERROR_NONE)
        lines.append(catalog.SYNC_STATUS_PARKED.format(count=len(row["parked"])))
        lines += [catalog.SYNC_STATUS_PARKED_ROW.format(**p) for p in row["parked"]]
        lines.append(catalog.SYNC_STATUS_CONFLICTS.format(count=len(row["conflicts"])))
        lines += [(catalog.SYNC_STATUS_CONFLICT_ROW_TRACKER if c.get("kept") == "remote"
                   else catalog.SYNC_STATUS_CONFLICT_ROW).format(**c) for c in row["conflicts"]]
    lines.append(catalog.SYNC_STATUS_DAEMON.format(daemon=report["daemon"]))
    return lines


def stall_warning(facts: LiveFacts, *, now: float | None = None) -> str | None:
    """One warning line when the current mission's events have waited past ``STALL_AFTER`` and no live
    daemon will send them; None otherwise. Cheap when nothing is queued: no queue file, no work."""
    if not facts.host_url or not paths.queue_file().exists():
        return None
    from orchestrator.sync.outbox import mission_ref
    from orchestrator.sync.queue import EventQueue
    from orchestrator.sync.store import QueueError

    ref = mission_ref(facts)
    if ref is None:
        return None
    key = ref.key
    try:
        with EventQueue(paths.queue_file(), busy_timeout=1.0) as queue:
            oldest = queue.oldest_queued_at(key)
            queued = queue.count(key) if oldest is not None else 0
    except QueueError:
        return None  # the command itself reports an unusable queue when it needs it
    now = time.time() if now is None else now
    if oldest is None or now - oldest < _stall_after():
        return None
    if daemon_word()[1]:
        return None
    return catalog.STALL_WARNING.format(queued=queued, mission=facts.mission_slug, age=age(now - oldest))


def _stall_after() -> float:
    try:
        return float(os.environ.get("SPEC_KITTY_STALL_SECONDS", "") or STALL_AFTER)
    except ValueError:
        return STALL_AFTER
