"""Uploading what is queued: batches of envelopes, oldest first, acked only as the host acknowledged them.

One request is in flight at a time (the server stores events in the order they were logged), while the
local work (acking the previous batch, scanning more of the log, building the next batch) runs in a
worker thread. A refused batch is halved until the refused events are found and parked, after an empty
batch proves the host judges what it is sent; one bad event never blocks the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.sync.deadletters import DeadLetters
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.rows import Parked
from orchestrator.sync.target import Progress, SyncError, SyncTarget, Tally
from states import catalog
from states.contract import one_line

if TYPE_CHECKING:
    from orchestrator.saas.client import SaasClient

BATCH_SIZE = 500
MAX_BATCH_BYTES = 510 * 1024  # under the hosted ingress's 512 KiB decompressed ceiling, with room for the wrapper
ENVELOPE_BYTES = 1024  # what an envelope adds to its row at most (identity, ids, clock): counted in the budget


class ScanFeed(Protocol):
    """A log scan the drain advances as the queue runs low (``orchestrator.sync.run``'s ``LogFeed``)."""

    done: bool

    def step(self) -> int: ...

    def estimate(self) -> int: ...


async def drain(client: SaasClient, queue: EventQueue, target: SyncTarget, *, batch_size: int = BATCH_SIZE,
                progress: Progress | None = None) -> int:
    """Upload what is queued for ``target`` (no log scan, no tracker sync); returns the events acked.

    The drain benchmark (``benchmarks/bench_sync.py``) measures this step on its own."""
    run = Tally(cursor=None)
    await drain_queue(client, queue, target, run, batch_size, progress)
    return run.pushed


class Batch:
    """Queued rows made ready for the wire: their envelopes' body, which envelope is which row, and
    the rows that are not lane rows (nothing to send: they leave the queue with the batch)."""

    __slots__ = ("body", "by_envelope", "invalid", "last", "local", "rows")

    def __init__(self, target: SyncTarget, rows: list[tuple[str, str]], last: int) -> None:
        import json

        from orchestrator.sync import envelopes

        self.rows = rows
        self.last = last  # queue position of the last row: the next read starts after it
        self.by_envelope: dict[str, str] = {}
        self.local: list[str] = []
        self.invalid: list[Parked] = []  # lane rows no host could take (no time): parked, never sent
        texts: list[str] = []
        if target.context is None:
            raise SyncError("a sync needs the envelopes' context (project, node, team)")
        parsed = []
        for event_id, text in rows:
            try:
                row = json.loads(text)
            except (ValueError, RecursionError):
                row = None
            if not envelopes.lane_row(row):
                self.local.append(event_id)
            elif not isinstance(row.get("at"), str) or not row["at"]:
                self.invalid.append(Parked(event_id, text, catalog.PARK_REASON_NO_TIME))
            else:
                parsed.append((event_id, row))
        if parsed:
            from orchestrator.project.identity import reserve_clock

            lamport = reserve_clock(len(parsed), target.context.node_id)
            for offset, (event_id, row) in enumerate(parsed):
                envelope = envelopes.build(target.context, row, event_id, lamport + offset, target.mission)
                self.by_envelope[envelope.event_id] = event_id
                texts.append(envelope.text)
        from orchestrator.saas.client import SaasClient

        self.body = SaasClient.events_body(texts) if texts else b""

    def settle(self, queue: EventQueue, key: str, results: list[dict[str, Any]]) -> tuple[list[str], int]:
        """Apply the host's per-event results: acked rows (to remove from the queue), and how many were
        parked (a final rejection). A non-final rejection or an event the host did not answer stays
        queued for the next run (the drain reads on after this batch, so not again in this one)."""
        acked = list(self.local)
        parked: list[Parked] = list(self.invalid)
        texts = dict(self.rows)
        for result in results:
            row_id = self.by_envelope.get(str(result.get("event_id")))
            if row_id is None:
                continue
            status = result.get("status")
            if status in ("success", "duplicate"):
                acked.append(row_id)
            elif status == "rejected" and str(result.get("error_category")) in TERMINAL_REJECTIONS:
                parked.append(Parked(row_id, texts[row_id], catalog.SYNC_REJECTED_REASON.format(
                    category=result.get("error_category"), error=one_line(result.get("error")))))
        if parked:
            DeadLetters(queue).park(key, parked)
        return list(dict.fromkeys(acked)), len(parked)


# The host's per-event refusals that no re-send will change (the reference client's
# delivery/receivers.py TERMINAL_REJECTION_CATEGORIES): parked until `sync retry`.
TERMINAL_REJECTIONS = frozenset({"project_not_admitted", "project_not_consented", "project_refused"})


async def drain_queue(client: SaasClient, queue: EventQueue, target: SyncTarget, run: Tally, batch_size: int,
                      progress: Progress | None, scan: ScanFeed | None = None) -> None:
    """Upload pending rows oldest first, as envelopes, until none are left; ack only what the host acked.

    One request is in flight at a time (the server stores events in the order they were logged), but
    the local work (acking the previous batch, scanning more of the log, reading and building the next
    batch) runs in a worker thread while the current batch is on the wire, so sqlite and the server
    work side by side. A crash anywhere leaves unacked rows queued; a re-send carries the same envelope
    ids, which the host stores once. With ``scan``, the log is scanned as the queue runs low rather than
    all beforehand, and the progress total counts the rows not scanned yet from the log's size.
    """
    import asyncio

    from orchestrator.saas.errors import RequestFailed

    key = target.key
    waiting = queue.count(key)  # rows queued and not acked, as far as this drain knows
    unacked: list[str] = []  # acknowledged by the server, not yet removed from the queue

    def read(limit: int, after: int = 0, in_flight: int = 0) -> Batch:
        """The next batch after queue position ``after`` (the last row on the wire), built: a read-ahead
        never reads the rows in flight again."""
        nonlocal waiting
        while True:  # scan until two batches wait (the next one, and one to read ahead) or the log ends
            while scan is not None and not scan.done and waiting - in_flight < 2 * limit:
                waiting += scan.step()
            found = queue.pending_after(key, limit, after)
            rows = _within_budget([(event_id, text) for _, event_id, text in found])
            if rows or scan is None or scan.done:
                return Batch(target, rows, found[len(rows) - 1][0] if rows else after)
            waiting = in_flight  # another process acked what this drain counted: scan on

    def settle_and_read_ahead(after: int, in_flight: int, limit: int) -> Batch:
        if unacked:
            queue.ack(key, unacked)
        return read(limit, after, in_flight)

    def count_acked() -> None:
        nonlocal waiting
        if not unacked:
            return
        run.pushed += len(unacked)
        waiting = max(0, waiting - len(unacked))
        if progress is not None:
            if scan is None or scan.done:
                if waiting == 0:  # a `wp move` may have queued rows meanwhile: count again only then
                    waiting = queue.count(key)  # (a COUNT per batch made a big sync quadratic)
                total = run.pushed + waiting
            else:
                total = run.pushed + waiting + scan.estimate()
            progress(run.pushed, total)
        unacked.clear()

    batch = await asyncio.to_thread(read, batch_size)
    while batch.rows:
        if not batch.body:  # nothing in it travels (no lane rows): it leaves the queue as it is
            unacked.extend((await asyncio.to_thread(batch.settle, queue, key, []))[0])
            batch = await asyncio.to_thread(settle_and_read_ahead, batch.last, 0, batch_size)
            count_acked()
            continue
        upload = asyncio.get_running_loop().create_task(client.send_events(batch.body))
        try:
            ahead = await asyncio.to_thread(settle_and_read_ahead, batch.last, len(batch.rows), batch_size)
            count_acked()
            results = await upload
        except RequestFailed as refusal:
            if not _row_refusal(refusal):
                raise
            await _bisect(client, queue, target, run, batch, refusal)
            waiting = queue.count(key)
            count_acked()
            batch = await asyncio.to_thread(read, batch_size, batch.last)
            continue
        finally:
            if not upload.done():
                upload.cancel()
        acked, parked = await asyncio.to_thread(batch.settle, queue, key, results)
        if not acked and not parked:  # nothing moved: looping on it would never end
            raise SyncError(catalog.SYNC_NOTHING_ACKED.format(url=target.server_url, count=len(batch.rows)))
        unacked = acked
        batch = ahead
    if unacked:
        queue.ack(key, unacked)
        count_acked()


def _row_refusal(error: Exception) -> bool:
    """A refusal that may be about one event in the batch (413 too large, a 400 naming no event), as
    opposed to the request as a whole (auth, protocol, URL): only those are worth splitting."""
    status = getattr(error, "status", None)
    return status == 413 or (status in (400, 422) and getattr(error, "code", None) not in ("invalid_name", "not_bound"))


async def _bisect(client: SaasClient, queue: EventQueue, target: SyncTarget, run: Tally, batch: Batch,
                  refusal: Exception) -> None:
    """Find the events the host refuses by halving the refused batch: the others are uploaded and acked,
    each refused one is parked with the host's reason, so one bad event never blocks the rest.

    Before parking, an empty batch checks that the host judges what it is sent (``400 "No events
    provided"``): if it refuses that some other way, the trouble is not the event, and the original error
    is raised instead of parking everything."""
    from orchestrator.saas.errors import RequestFailed

    key = target.key
    checked = False
    pending = [batch.rows]
    while pending:
        rows = pending.pop()
        part = Batch(target, rows, batch.last)
        try:
            results = await client.send_events(part.body) if part.body else []
        except RequestFailed as error:
            if not _row_refusal(error):
                raise
            if len(rows) > 1:
                middle = len(rows) // 2
                pending.extend([rows[middle:], rows[:middle]])  # the first half goes first
                continue
            if not checked:
                if not await client.batch_takes_requests():
                    raise refusal from None
                checked = True
            event_id, text = rows[0]
            reason = catalog.PARK_REASON_REFUSED.format(detail=error.detail or error)
            DeadLetters(queue).park(key, [Parked(event_id, text, reason)])
            continue
        done, _ = part.settle(queue, key, results)
        queue.ack(key, done)
        run.pushed += len(done)


def _within_budget(batch: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The longest prefix whose envelopes stay under ``MAX_BATCH_BYTES`` (at least one row), so big rows
    never make a request the host must refuse as too large (a 413 costs a split and a round trip each)."""
    size = 0
    for index, (_, text) in enumerate(batch):
        size += len(text) + ENVELOPE_BYTES
        if size > MAX_BATCH_BYTES and index > 0:
            return batch[:index]
    return batch

