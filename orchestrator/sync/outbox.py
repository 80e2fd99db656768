"""Putting locally recorded events on the durable queue as they happen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.facts import LiveFacts
from orchestrator.home import paths

if TYPE_CHECKING:
    from orchestrator.sync.mission_ref import MissionRef
    from orchestrator.sync.queue import EventQueue

ENQUEUE_BUSY_TIMEOUT = 1.0  # seconds `wp move` waits for a locked queue: its row is in the log already


def mission_ref(facts: LiveFacts, slug: str | None = None, host: str | None = None) -> MissionRef | None:
    """The mission on the host as the queue knows it: the host's origin, the repository's
    ``project_uuid`` and the mission slug (the facts' mission and host unless named). None while the
    repository has no identity yet: nothing can have been queued under it, and a read must not write one."""
    from orchestrator.project.identity import IdentityError, read_identity
    from orchestrator.sync.mission_ref import MissionRef

    url = host or facts.host_url
    try:
        identity = read_identity(facts.repo_root)
    except IdentityError:
        return None
    if identity is None or not url:
        return None
    return MissionRef.at(url, identity.uuid, slug or facts.mission_slug)


def _bound_ref(facts: LiveFacts) -> MissionRef:
    """The current mission on the configured host, creating the repository's identity if needed (only
    remote paths and ``wp move`` with a binding ask)."""
    from orchestrator.project.identity import ensure_identity
    from orchestrator.sync.mission_ref import MissionRef

    assert facts.host_url
    return MissionRef.at(facts.host_url, ensure_identity(facts.repo_root).uuid, facts.mission_slug)


def open_mission_queue(facts: LiveFacts) -> tuple[EventQueue, MissionRef]:
    """The queue and the bound mission on the configured host."""
    from orchestrator.sync.queue import EventQueue

    return EventQueue(paths.queue_file()), _bound_ref(facts)


def queue_summary(ref: MissionRef | None) -> tuple[int, dict[str, object] | None]:
    """Queued count and last sync result of a mission on a host, without creating the queue file
    (``tracker status`` and the daemon's status ask; no ref, no identity yet: nothing queued)."""
    if ref is None or not paths.queue_file().exists():
        return 0, None
    from orchestrator.sync.history import SyncHistory
    from orchestrator.sync.queue import EventQueue

    with EventQueue(paths.queue_file()) as queue:
        return queue.count(ref.key), SyncHistory(queue).last_result(ref.key)


def enqueue_local_event(facts: LiveFacts, row: dict[str, Any]) -> str | None:
    """Queue a row ``wp move`` just appended, best effort: the row is in the log, and a later sync's
    log scan finds it anyway; this only makes the queue count honest right away. A locked, read-only,
    corrupt or full queue costs a second at most and comes back as a warning line (None when queued)."""
    from orchestrator.project.identity import IdentityError
    from orchestrator.sync.queue import EventQueue
    from orchestrator.sync.store import QueueError
    from states import catalog

    try:
        key = _bound_ref(facts).key
    except IdentityError as error:
        return catalog.ENQUEUE_SKIPPED.format(error=error)
    try:
        with EventQueue(paths.queue_file(), busy_timeout=ENQUEUE_BUSY_TIMEOUT) as queue:
            queue.enqueue(key, [row])
    except QueueError as error:
        return catalog.ENQUEUE_SKIPPED.format(error=error)
    return None


def record_failure(facts: LiveFacts, message: str) -> None:
    """A sync that stopped before it could start (the host refused the connection or did not answer the
    probe) is a failed sync all the same: ``sync status`` shows it as the last error, until a success.
    Only under a queue that already exists (a read path must not create one); best effort."""
    ref = mission_ref(facts)
    if ref is None or not paths.queue_file().exists():
        return
    from orchestrator.sync.history import SyncHistory
    from orchestrator.sync.queue import EventQueue

    key = ref.key
    with EventQueue(paths.queue_file(), busy_timeout=1.0) as queue:
        history = SyncHistory(queue)
        history.record_result(key, {"pushed": 0, "pulled": 0, "queued": queue.count(key),
                                    "cursor": history.get_cursor(key), "error": message})
