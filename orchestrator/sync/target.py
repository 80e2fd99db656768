"""What one sync of one mission is given (:class:`SyncTarget`), what it reports (:class:`SyncResult`),
and the counters its steps share while it runs (:class:`Tally`).

A leaf of the sync room: the upload (``orchestrator.sync.upload``), the tracker step
(``orchestrator.tracker.exchange``), the tracker's ``sync_target`` that builds a target from the facts,
and the run that composes them (``orchestrator.sync.run``) all import it; it imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import SpecKittyError
from orchestrator.sync.mission_ref import MissionRef

if TYPE_CHECKING:
    from orchestrator.sessions.store import Credentials
    from orchestrator.sync.envelopes import EnvelopeContext
    from orchestrator.tracker.binding import Binding

Progress = Callable[[int, int], None]


class SyncError(SpecKittyError):
    """The host answered, but not in a way that lets the sync make progress."""


@dataclass(frozen=True)
class SyncTarget:
    """Everything one sync of one mission needs; ``mission_dir`` is None when the repo has no folder for it.

    ``project`` is the repository's ``project_uuid`` (how the host and the queue know the project);
    ``context`` what every envelope carries (None: a drain-only caller that builds none, e.g. a test);
    ``tracker`` the repository's tracker binding when it has one (the tracker step runs only then), made
    in ``tracker_team`` (the session's one shared team; asked of the host when None)."""

    server_url: str
    token: str | Credentials = field(repr=False)  # never in a repr, a log line or a traceback
    project: str
    mission: str
    repo_root: Path
    mission_dir: Path | None
    context: EnvelopeContext | None = None
    tracker: Binding | None = None
    tracker_team: str | None = None

    @property
    def ref(self) -> MissionRef:
        """The mission on its host, as the queue, ``sync status`` and the daemon name it."""
        return MissionRef.at(self.server_url, self.project, self.mission)

    @property
    def key(self) -> str:
        return self.ref.key


@dataclass(frozen=True)
class SyncResult:
    pushed: int  # events the server acknowledged during this run
    pulled: int  # remote lane changes applied to the local log
    queued: int  # events still waiting (e.g. appended while the run was ending)
    cursor: int | None  # the tracker cursor now stored
    parked: int = 0  # rows in the dead-letter table (see `sync status`)
    conflicts: list[dict[str, str]] = field(default_factory=list)  # found by this run: wp_id, local/remote lane
    notes: list[str] = field(default_factory=list)  # one line each for the operator (a binding converted)


@dataclass
class Tally:
    """Counters a failed run still reports (``tracker status`` shows how far it got)."""

    pushed: int = 0
    pulled: int = 0
    cursor: int | None = None
    conflicts: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def outcome(self, queued: int, error: str | None) -> dict[str, Any]:
        """The run's outcome as the queue records it (``SyncHistory.record_result``)."""
        return {"pushed": self.pushed, "pulled": self.pulled, "queued": queued, "cursor": self.cursor,
                "error": error}
