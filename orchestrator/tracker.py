"""Tracker operations behind the hosted commands: bind, unbind, and the sync target of a mission."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator import paths
from orchestrator.binding import Binding, remove_binding, write_binding
from orchestrator.errors import CatalogFailure, SpecKittyError

if TYPE_CHECKING:
    from orchestrator.auth import Credentials
    from orchestrator.sync import SyncTarget
from orchestrator.facts import LiveFacts
from orchestrator.missions import SLUG
from states import catalog


def default_project(facts: LiveFacts) -> str:
    """An existing binding's project, else the repo folder's name made into a valid key."""
    if facts.binding is not None:
        return facts.binding.project
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", facts.repo_root.name).strip("-._") or "default"
    return name[:128]


def _session_token(facts: LiveFacts) -> Credentials:
    """The effective host's session, bound to its origin (the client refuses to send it elsewhere)."""
    from orchestrator.auth import Credentials

    session = facts.session
    assert session is not None, "the gate guarantees a session for the host before remote work"
    return Credentials(session)


@contextlib.contextmanager
def _retry_hint(command: str) -> Iterator[None]:
    """A host error during bind/unbind keeps the host's words but names this command as the retry: no
    queue is involved, so the sync's "queued events are kept" would mislead."""
    from orchestrator.client import ServerFailed

    try:
        yield
    except ServerFailed as error:
        raise CatalogFailure(error.failure._replace(
            next_action=catalog.TRACKER_RETRY_LATER.format(command=command))) from None


def bind(facts: LiveFacts, project: str | None) -> Binding:
    """Create (idempotently) the binding on the SaaS, then record it in the repo."""
    from orchestrator.client import run_with_client  # network code is imported where it is used

    project = project or default_project(facts)
    slug = facts.mission_slug
    for wording, value in ((catalog.INVALID_PROJECT_KEY, project), (catalog.INVALID_MISSION_SLUG, slug)):
        if not SLUG.fullmatch(value):
            raise SpecKittyError(wording.format(value=value))
    host = facts.host_url or ""

    with _retry_hint("tracker bind"):
        remote = run_with_client(host, _session_token(facts), lambda client: client.put_binding(
            project, slug, {"repo_name": facts.repo_root.name, "mission_slug": slug}))
    binding = Binding(
        project=project,
        mission=slug,
        server_url=host,
        binding_id=str(remote.get("binding_id") or ""),
        bound_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_binding(facts.repo_root, binding)
    return binding


def unbind(facts: LiveFacts) -> Binding:
    """Delete the binding on the SaaS (idempotent there), then forget it locally."""
    from orchestrator.client import run_with_client

    binding = facts.binding
    assert binding is not None, "the gate guarantees a binding"
    # on the binding's own host (the effective host: read_binding matched it)
    with _retry_hint("tracker unbind"):
        run_with_client(binding.server_url or facts.host_url or "", _session_token(facts),
                        lambda client: client.delete_binding(binding.project, binding.mission))
    remove_binding(facts.repo_root, binding)
    return binding


def sync_target(facts: LiveFacts) -> SyncTarget:
    """What a sync of the facts' mission needs: host, session, the repository's identity (its
    ``project:`` block, written as spec-kitty would when absent), the envelopes' context and, when the
    mission is bound on this host, the tracker project."""
    from orchestrator.envelopes import EnvelopeContext
    from orchestrator.project import ensure_identity, git_state
    from orchestrator.sync import SyncTarget

    slug = facts.mission_slug
    identity = ensure_identity(facts.repo_root)
    branch, head = git_state(facts.repo_root)
    credentials = _session_token(facts)
    folder = (facts.project_root / paths.SPECS_DIR / slug) if facts.project_root else None
    binding = facts.binding
    return SyncTarget(
        server_url=facts.host_url or "",
        token=credentials,
        project=identity.uuid,
        mission=slug,
        repo_root=facts.repo_root,
        mission_dir=folder if folder is not None and folder.is_dir() else None,
        context=EnvelopeContext(identity.uuid, identity.slug, identity.node_id, identity.build_id,
                                credentials.session.private_team or "", branch, head, identity.repo_slug),
        tracker_project=binding.project if binding is not None else None,
    )


def lanes_line(facts: LiveFacts, warn: Callable[[str], None]) -> str:
    """The bound mission's lanes, from the same fold ``status`` and the sync use; bad lines go to ``warn``."""
    from orchestrator.missions import lane_counts, problem_line, read_mission

    folder = (facts.project_root / paths.SPECS_DIR / facts.mission_slug) if facts.project_root else None
    if folder is None or not folder.is_dir():
        return catalog.TRACKER_NO_LANES
    read = read_mission(folder)
    for problem in read.problems:
        warn(problem_line(problem))
    counts = lane_counts(read.snapshot)
    if not counts:
        return catalog.TRACKER_NO_LANES
    return catalog.TRACKER_LANES.format(counts=counts, events=read.snapshot["event_count"])


def queue_summary(facts: LiveFacts) -> tuple[int, dict[str, object] | None]:
    """Queued count and last sync result for the bound mission, without creating the queue file."""
    from orchestrator.outbox import queue_key

    key = queue_key(facts)
    if key is None or not paths.queue_file().exists():
        return 0, None
    from orchestrator.queue import EventQueue

    with EventQueue(paths.queue_file()) as queue:
        return queue.count(key), queue.last_result(key)
