"""One sync of one mission: log → durable queue → SaaS, then tracker lanes both ways.

``sync_once`` is the engine the foreground ``sync run`` and the background daemon share; it takes an
open client and queue so a caller that syncs often keeps both. The order of steps is what makes a
crash harmless at any point:

1. *Scan* the mission log into the queue (rows and checkpoint commit together).
2. *Drain* the queue in batches, oldest first, acking exactly the ids the server acknowledged. A crash
   before the ack re-sends the batch next time; the server stores each ``event_id`` once.
3. *Tracker sync*: push the local lanes (with the ``last_event_id`` that produced each, already
   uploaded in step 2) and the stored cursor; append a transition for each pulled change that differs
   from the local lane; only then store the new cursor. A crash before that re-pulls the same changes,
   which now match the local lanes and are skipped: nothing is applied twice.
4. The transitions appended in step 3 are new log rows: scan and drain again, so a clean run leaves
   nothing queued.

Every run, failed or not, leaves its outcome in the queue (``record_result``) for ``tracker status``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import paths
from orchestrator.errors import SpecKittyError
from orchestrator.missions import LANES, SLUG, WP_ID, append_transition, read_log, reduce
from orchestrator.queue import EventQueue, mission_key
from states import catalog

if TYPE_CHECKING:
    from orchestrator.auth import Credentials
    from orchestrator.client import SaasClient

Progress = Callable[[int, int], None]

BATCH_SIZE = 500
MAX_BATCH_BYTES = 8 * 1024 * 1024  # the server takes 64 MiB; rows with big evidence blobs exist
PULL_ACTOR = "spec-kitty-sync"
PULL_REASON = "pulled from SaaS"


class SyncError(SpecKittyError):
    """The host answered, but not in a way that lets the sync make progress."""


@dataclass(frozen=True)
class SyncTarget:
    """Everything one sync needs; ``mission_dir`` is None when the repo has no folder for the mission."""

    server_url: str
    token: str | Credentials = field(repr=False)  # never in a repr, a log line or a traceback
    project: str
    mission: str
    repo_root: Path
    mission_dir: Path | None

    @property
    def key(self) -> str:
        return mission_key(self.server_url, self.project, self.mission)


@dataclass(frozen=True)
class SyncResult:
    pushed: int  # events the server acknowledged during this run
    pulled: int  # remote lane changes applied to the local log
    queued: int  # events still waiting (e.g. appended while the run was ending)
    cursor: int | None  # the tracker cursor now stored


@dataclass
class _Run:
    """Counters a failed run still reports (``tracker status`` shows how far it got)."""

    pushed: int = 0
    pulled: int = 0
    cursor: int | None = None


async def sync_once(
    client: SaasClient,
    queue: EventQueue,
    target: SyncTarget,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> SyncResult:
    """Scan, upload, tracker-sync (see the module docstring for why in this order)."""
    key = target.key
    run = _Run(cursor=queue.get_cursor(key))
    log_path = target.mission_dir / paths.EVENTS_FILE if target.mission_dir is not None else None
    try:
        if log_path is not None:
            queue.scan_log(key, log_path)
        await _drain(client, queue, target, run, batch_size, progress)
        if await _tracker(client, queue, target, run) and log_path is not None:
            queue.scan_log(key, log_path)
            await _drain(client, queue, target, run, batch_size, progress)
    except Exception as exc:
        with contextlib.suppress(Exception):  # a broken queue must not hide the original error
            queue.record_result(key, _outcome(run, queue.count(key), str(exc) or type(exc).__name__))
        raise
    result = SyncResult(pushed=run.pushed, pulled=run.pulled, queued=queue.count(key), cursor=run.cursor)
    queue.record_result(key, _outcome(run, result.queued, None))
    return result


def run_sync(
    target: SyncTarget,
    *,
    queue_path: Path | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> SyncResult:
    """A whole foreground sync in its own event loop (the daemon calls it from a worker thread)."""
    import asyncio

    from orchestrator.client import SaasClient

    async def run() -> SyncResult:
        async with SaasClient(target.server_url, target.token) as client:
            return await sync_once(client, queue, target, batch_size=batch_size, progress=progress)

    with EventQueue(queue_path or paths.queue_file()) as queue:
        return asyncio.run(run())


async def drain(client: SaasClient, queue: EventQueue, target: SyncTarget, *, batch_size: int = BATCH_SIZE,
                progress: Progress | None = None) -> int:
    """Upload what is queued for ``target`` (no log scan, no tracker sync); returns the events acked.

    The drain benchmark (``benchmarks/bench_sync.py``) measures this step on its own."""
    run = _Run(cursor=None)
    await _drain(client, queue, target, run, batch_size, progress)
    return run.pushed


# --- steps ----------------------------------------------------------------------------------------------
async def _drain(client: SaasClient, queue: EventQueue, target: SyncTarget, run: _Run, batch_size: int,
                 progress: Progress | None) -> None:
    """Upload pending rows oldest first until none are left; ack only what the server acknowledged.

    One request is in flight at a time (the server stores events in the order they were logged), but
    the local work (acking the previous batch, reading the next one) runs in a worker thread while the
    current batch is on the wire, so sqlite and the server work side by side. A crash anywhere leaves
    unacked rows queued; a re-send is acknowledged by the server without storing twice.
    """
    import asyncio

    key = target.key
    total = queue.count(key)
    unacked: list[str] = []  # acknowledged by the server, not yet removed from the queue

    def settle_and_read_ahead(skip: set[str], limit: int) -> tuple[list[tuple[str, str]], bytes]:
        if unacked:
            queue.ack(key, unacked)
        ahead = _within_budget([row for row in queue.pending(key, limit + len(skip)) if row[0] not in skip][:limit])
        return ahead, client.events_body([text for _, text in ahead])

    def count_acked() -> None:
        if not unacked:
            return
        run.pushed += len(unacked)
        if progress is not None:
            nonlocal total
            total = max(total, run.pushed + queue.count(key))  # a `wp move` meanwhile grows the total
            progress(run.pushed, total)
        unacked.clear()

    batch = _within_budget(queue.pending(key, batch_size))
    body = client.events_body([text for _, text in batch])
    while batch:
        sent = {event_id for event_id, _ in batch}
        upload = asyncio.get_running_loop().create_task(client.upload_events(target.project, target.mission, body))
        try:
            ahead, body = await asyncio.to_thread(settle_and_read_ahead, sent, batch_size)
            count_acked()
            answer = await upload
        finally:
            if not upload.done():
                upload.cancel()
        unacked = [event_id for event_id in dict.fromkeys(answer) if event_id in sent]
        if not unacked:  # the contract acks every id sent; looping on a refusal would never end
            raise SyncError(catalog.SYNC_NOTHING_ACKED.format(url=target.server_url, count=len(batch)))
        if len(unacked) < len(sent):  # a partial ack: re-read rather than trust the read-ahead
            queue.ack(key, unacked)
            count_acked()
            ahead = _within_budget(queue.pending(key, batch_size))
            body = client.events_body([text for _, text in ahead])
        batch = ahead
    if unacked:
        queue.ack(key, unacked)
        count_acked()


def _within_budget(batch: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The longest prefix under ``MAX_BATCH_BYTES`` (at least one row), so big rows never make a request
    the server must refuse as too large, which would block the queue for good."""
    size = 0
    for index, (_, text) in enumerate(batch):
        size += len(text) + 1
        if size > MAX_BATCH_BYTES and index > 0:
            return batch[:index]
    return batch


async def _tracker(client: SaasClient, queue: EventQueue, target: SyncTarget, run: _Run) -> bool:
    """Push local lanes, apply pulled changes; returns whether transitions were appended to the log."""
    snapshot: dict[str, dict[str, Any]] = {}
    if target.mission_dir is not None:
        rows = read_log(target.mission_dir / paths.EVENTS_FILE).rows
        snapshot = reduce(target.mission, rows)["work_packages"]
    answer = await client.tracker_sync(target.project, target.mission, run.cursor, _pushable(snapshot))
    if target.mission_dir is None:
        return False  # nowhere to apply changes: keep the cursor so they are pulled once the folder exists
    local = {wp_id: wp.get("lane") for wp_id, wp in snapshot.items()}
    for change in answer["changes"]:
        if not isinstance(change, dict):
            continue
        wp_id, lane = change.get("wp_id"), change.get("lane")
        # spec-kitty work packages are WPnn; a remote issue named otherwise has no local counterpart
        if not (isinstance(wp_id, str) and WP_ID.fullmatch(wp_id) and lane in LANES) or local.get(wp_id) == lane:
            continue
        append_transition(target.mission_dir, wp_id, str(lane), actor=PULL_ACTOR, reason=PULL_REASON)
        local[wp_id] = lane
        run.pulled += 1
    run.cursor = int(answer["cursor"])
    queue.set_cursor(target.key, run.cursor)
    return run.pulled > 0


def _pushable(snapshot: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The lanes the server will accept: one odd row in a log must not make every tracker sync fail."""
    lanes = {}
    for wp_id, wp in snapshot.items():
        lane, last_event_id = wp.get("lane"), wp.get("last_event_id")
        if SLUG.fullmatch(wp_id) and lane in LANES and isinstance(last_event_id, str) and last_event_id:
            lanes[wp_id] = {"lane": str(lane), "last_event_id": last_event_id}
    return lanes


def _outcome(run: _Run, queued: int, error: str | None) -> dict[str, Any]:
    return {"pushed": run.pushed, "pulled": run.pulled, "queued": queued, "cursor": run.cursor, "error": error}
