"""Putting locally recorded events on the durable queue as they happen."""

from __future__ import annotations

from typing import Any

from orchestrator import paths
from orchestrator.facts import LiveFacts


def enqueue_local_event(facts: LiveFacts, row: dict[str, Any]) -> None:
    """Queue a row ``wp move`` just appended (a later sync's log scan would find it too; this makes
    the queue count honest right away)."""
    from orchestrator.queue import EventQueue, mission_key

    binding = facts.binding
    assert binding is not None and facts.host_url
    with EventQueue(paths.queue_file()) as queue:
        queue.enqueue(mission_key(facts.host_url, binding.project, binding.mission), [row])
