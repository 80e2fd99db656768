"""One sync of one mission: log → durable queue → SaaS, then tracker lanes both ways.

``sync_once`` is the engine the foreground ``sync run`` and the background daemon share; it takes an
open client and queue so a caller that syncs often keeps both. The order of steps is what makes a
crash harmless at any point:

1. *Scan* the mission log into the queue (``scan``: rows and checkpoint commit together, step by step).
2. *Drain* the queue in batches (``upload``), oldest first, acking exactly the ids the server
   acknowledged. A crash before the ack re-sends the batch next time; the server stores each
   ``event_id`` once. Steps 1 and 2 overlap: the scan's next step runs while a batch is on the wire,
   and a row is only ever uploaded from the queue, after the step that queued it committed.
3. *Tracker sync* (``orchestrator.tracker.exchange``): pull the changes since the stored cursor
   (pushing nothing yet); append a transition for each pulled change that differs from the local
   lane, or record a conflict when the work package moved here too; then push the lanes that moved
   here (with the ``last_event_id`` that produced each, already uploaded in step 2); only then store
   the new cursor. A crash before that re-pulls the same changes, which now match the local lanes
   and are skipped: nothing is applied twice.
4. The transitions appended in step 3 are new log rows: scan and drain again, so a clean run leaves
   nothing queued.

Every run, failed or not, leaves its outcome in the queue (``history``) for ``tracker status``.

The one module of the sync room above the tracker room: it composes "events, then tracker". Every
other sync module stays below it (the tracker imports them), so there is no circle between the two.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import SpecKittyError
from orchestrator.home import paths
from orchestrator.missions import savedfold
from orchestrator.sync.deadletters import DeadLetters
from orchestrator.sync.history import SyncHistory
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.scan import LogScanner
from orchestrator.sync.target import Progress, SyncError, SyncResult, SyncTarget, Tally
from orchestrator.sync.upload import BATCH_SIZE, drain_queue
from orchestrator.tracker.exchange import exchange
from orchestrator.tracker.held import held_row
from states import catalog

if TYPE_CHECKING:
    from orchestrator.context import ClientFactory
    from orchestrator.saas.client import SaasClient


async def sync_once(
    client: SaasClient,
    queue: EventQueue,
    target: SyncTarget,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> SyncResult:
    """Scan, upload, tracker-sync (see the module docstring for why in this order)."""
    _one_heap()
    key = target.key
    history = SyncHistory(queue)
    run = Tally(cursor=history.get_cursor(key))
    log_path = target.mission_dir / paths.EVENTS_FILE if target.mission_dir is not None else None
    scan: LogFeed | None = None
    try:
        scan = LogFeed(queue, key, log_path) if log_path is not None else None
        target = await _with_team(client, target)
        await drain_queue(client, queue, target, run, batch_size, progress, scan)
        if target.tracker is not None and await exchange(client, queue, target, run) and log_path is not None:
            if scan is not None:
                scan.close()
            scan = LogFeed(queue, key, log_path)
            await drain_queue(client, queue, target, run, batch_size, progress, scan)
    except Exception as exc:
        with contextlib.suppress(Exception):  # a broken queue must not hide the original error
            if scan is not None:  # the log's rows are left queued, as a scan before the drain left them
                scan.finish()
        with contextlib.suppress(Exception):
            history.record_result(key, run.outcome(queue.count(key), str(exc) or type(exc).__name__))
        raise
    finally:
        if scan is not None:
            scan.close()
    result = SyncResult(pushed=run.pushed, pulled=run.pulled, queued=queue.count(key), cursor=run.cursor,
                        parked=len(DeadLetters(queue).parked(key)), conflicts=run.conflicts, notes=run.notes)
    history.record_result(key, run.outcome(result.queued, None))
    with contextlib.suppress(SpecKittyError):  # space, not correctness: a busy queue compacts next time
        queue.compact()
    return result


def _one_heap() -> None:
    """Keep the threads of a sync on glibc's main heap (``M_ARENA_MAX`` 1).

    The drain parses, queues and compresses in a worker thread, and glibc gives each thread its own
    heap: the rows freed there stay mapped beside the main heap's, ~5 MiB more at peak for nothing
    (meanwhile the main thread only handles one request, so sharing a heap costs no measurable
    time). Elsewhere (another libc) a no-op."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX


class LogFeed:
    """The log scan a drain runs step by step while its uploads are on the wire (a cold sync then
    overlaps the scan, about half its work, with the server's), growing from the same parse the saved
    fold of the held lanes (the tracker step then folds nothing again: one pass over the log).

    Each step commits its rows with the checkpoint, as a whole scan does: an interrupted sync leaves
    a scan that resumes where it stopped, and a row leaves the queue only once the server acked it."""

    STEP = 256 * 1024  # bytes per step: ~400 rows, so the scan keeps pace with batches of 500

    def __init__(self, queue: EventQueue, key: str, log_path: Path) -> None:
        self.growing = savedfold.Growing(log_path.parent, "held", held_row)
        self.steps = LogScanner(queue).steps(key, log_path, fold=self.growing.feed, chunk=self.STEP)
        self.done = False
        self.added = 0  # rows queued by this scan so far
        self.read = self.size = 0  # bytes committed so far, and in all

    def step(self) -> int:
        """One more committed step; returns the rows it queued (0 once the scan is done)."""
        if self.done:
            return 0
        found = next(self.steps, None)
        if found is None:
            self.done = True
            self.growing.save()
            self.growing.close()  # the fold's id table (21 MiB at 1M rows) goes before the drain ends
            return 0
        self.added += found.added
        self.read, self.size = found.done, found.size
        return found.added

    def finish(self) -> None:
        while not self.done:
            self.step()

    def estimate(self) -> int:
        """Rows still to queue, from the bytes left and the rows per byte so far (the progress total)."""
        if self.done or not self.read:
            return 0
        return round((self.size - self.read) * self.added / self.read)

    def close(self) -> None:
        """Stop (the steps committed so far stay committed) and let the fold go."""
        self.done = True
        with contextlib.suppress(ValueError):  # Ctrl-C: a step still running in the drain's worker thread
            self.steps.close()  # finishes (and commits) there; closing it here would raise mid-step
        self.growing.close()


def run_sync(
    target: SyncTarget,
    *,
    queue_path: Path | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    clients: ClientFactory | None = None,
) -> SyncResult:
    """A whole foreground sync in its own event loop (the daemon calls it from a worker thread); ``clients``
    is the context's client factory (default: the real host)."""
    from orchestrator.context import real_clients

    run_with_client = clients or real_clients
    with EventQueue(queue_path or paths.queue_file()) as queue:
        return run_with_client(target.server_url, target.token, lambda client: sync_once(
            client, queue, target, batch_size=batch_size, progress=progress))


# --- steps ----------------------------------------------------------------------------------------------
async def _with_team(client: SaasClient, target: SyncTarget) -> SyncTarget:
    """The target with its envelopes' ``team_slug``: the session's private team, asked of the host
    (``/api/v1/me``) when the session does not say (an env token, a session stored without teams)."""
    import dataclasses

    context = target.context
    if context is None or context.team_slug:
        return target
    me = await client.me()
    from orchestrator.sessions.store import Session

    team = Session("-", target.server_url).with_identity(me).private_team
    if not team:
        raise SyncError(catalog.SYNC_NO_PRIVATE_TEAM.filled(url=target.server_url).render())
    return dataclasses.replace(target, context=context._replace(team_slug=team))

