"""Putting locally recorded events on the durable queue as they happen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator import paths
from orchestrator.facts import LiveFacts

if TYPE_CHECKING:
    from orchestrator.queue import EventQueue

ENQUEUE_BUSY_TIMEOUT = 1.0  # seconds `wp move` waits for a locked queue: its row is in the log already


def _bound_key(facts: LiveFacts) -> str:
    """The bound mission's queue key on the configured host."""
    from orchestrator.queue import mission_key

    binding = facts.binding
    assert binding is not None and facts.host_url
    return mission_key(facts.host_url, binding.project, binding.mission)


def open_mission_queue(facts: LiveFacts) -> tuple[EventQueue, str]:
    """The queue and the bound mission's key on the configured host."""
    from orchestrator.queue import EventQueue

    return EventQueue(paths.queue_file()), _bound_key(facts)


def enqueue_local_event(facts: LiveFacts, row: dict[str, Any]) -> str | None:
    """Queue a row ``wp move`` just appended, best effort: the row is in the log, and a later sync's
    log scan finds it anyway; this only makes the queue count honest right away. A locked, read-only,
    corrupt or full queue costs a second at most and comes back as a warning line (None when queued)."""
    from orchestrator.queue import EventQueue, QueueError
    from states import catalog

    key = _bound_key(facts)
    try:
        with EventQueue(paths.queue_file(), busy_timeout=ENQUEUE_BUSY_TIMEOUT) as queue:
            queue.enqueue(key, [row])
    except QueueError as error:
        return catalog.ENQUEUE_SKIPPED.format(error=error)
    return None
