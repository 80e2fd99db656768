"""One sync of one mission: log → durable queue → SaaS, then tracker lanes both ways.

``sync_once`` is the engine the foreground ``sync run`` and the background daemon share; it takes an
open client and queue so a caller that syncs often keeps both. The order of steps is what makes a
crash harmless at any point:

1. *Scan* the mission log into the queue (rows and checkpoint commit together, step by step).
2. *Drain* the queue in batches, oldest first, acking exactly the ids the server acknowledged. A crash
   before the ack re-sends the batch next time; the server stores each ``event_id`` once. Steps 1 and
   2 overlap: the scan's next step runs while a batch is on the wire, and a row is only ever uploaded
   from the queue, after the step that queued it committed.
3. *Tracker sync*: pull the changes since the stored cursor (pushing nothing yet); append a
   transition for each pulled change that differs from the local lane, or record a conflict when the
   work package moved here too; then push the lanes that moved here (with the ``last_event_id`` that
   produced each, already uploaded in step 2); only then store the new cursor. A crash before that
   re-pulls the same changes, which now match the local lanes and are skipped: nothing is applied twice.
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

from orchestrator.errors import SpecKittyError
from orchestrator.home import paths
from orchestrator.missions import foldcache
from orchestrator.missions.log import LANES, WP_ID, append_transition
from orchestrator.sync.queue import WP_ID_ASCII, EventQueue, Parked, mission_key
from states import catalog
from states.contract import one_line

if TYPE_CHECKING:
    from orchestrator.context import ClientFactory
    from orchestrator.saas.client import SaasClient
    from orchestrator.sessions.auth import Credentials
    from orchestrator.sync.envelopes import EnvelopeContext
    from orchestrator.tracker.binding import Binding

Progress = Callable[[int, int], None]

BATCH_SIZE = 500
MAX_BATCH_BYTES = 510 * 1024  # under the hosted ingress's 512 KiB decompressed ceiling, with room for the wrapper
ENVELOPE_BYTES = 1024  # what an envelope adds to its row at most (identity, ids, clock): counted in the budget
PULL_ACTOR = "spec-kitty-sync"
PULL_REASON = "pulled from SaaS"


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
    def key(self) -> str:
        return mission_key(self.server_url, self.project, self.mission)


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
class _Run:
    """Counters a failed run still reports (``tracker status`` shows how far it got)."""

    pushed: int = 0
    pulled: int = 0
    cursor: int | None = None
    conflicts: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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
    run = _Run(cursor=queue.get_cursor(key))
    log_path = target.mission_dir / paths.EVENTS_FILE if target.mission_dir is not None else None
    scan: _Scan | None = None
    try:
        scan = _Scan(queue, key, log_path) if log_path is not None else None
        target = await _with_team(client, target)
        await _drain(client, queue, target, run, batch_size, progress, scan)
        if target.tracker is not None and await _tracker(client, queue, target, run) and log_path is not None:
            if scan is not None:
                scan.close()
            scan = _Scan(queue, key, log_path)
            await _drain(client, queue, target, run, batch_size, progress, scan)
    except Exception as exc:
        with contextlib.suppress(Exception):  # a broken queue must not hide the original error
            if scan is not None:  # the log's rows are left queued, as a scan before the drain left them
                scan.finish()
        with contextlib.suppress(Exception):
            queue.record_result(key, _outcome(run, queue.count(key), str(exc) or type(exc).__name__))
        raise
    finally:
        if scan is not None:
            scan.close()
    result = SyncResult(pushed=run.pushed, pulled=run.pulled, queued=queue.count(key), cursor=run.cursor,
                        parked=len(queue.parked(key)), conflicts=run.conflicts, notes=run.notes)
    queue.record_result(key, _outcome(run, result.queued, None))
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


class _Scan:
    """The log scan a drain runs step by step while its uploads are on the wire (a cold sync then
    overlaps the scan, about half its work, with the server's), growing from the same parse the saved
    fold of the held lanes (the tracker step then folds nothing again: one pass over the log).

    Each step commits its rows with the checkpoint, as a whole scan does: an interrupted sync leaves
    a scan that resumes where it stopped, and a row leaves the queue only once the server acked it."""

    STEP = 256 * 1024  # bytes per step: ~400 rows, so the scan keeps pace with batches of 500

    def __init__(self, queue: EventQueue, key: str, log_path: Path) -> None:
        self.growing = foldcache.Growing(log_path.parent, "held", held_row)
        self.steps = queue.scan_steps(key, log_path, fold=self.growing.feed, chunk=self.STEP)
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


async def drain(client: SaasClient, queue: EventQueue, target: SyncTarget, *, batch_size: int = BATCH_SIZE,
                progress: Progress | None = None) -> int:
    """Upload what is queued for ``target`` (no log scan, no tracker sync); returns the events acked.

    The drain benchmark (``benchmarks/bench_sync.py``) measures this step on its own."""
    run = _Run(cursor=None)
    await _drain(client, queue, target, run, batch_size, progress)
    return run.pushed


# --- steps ----------------------------------------------------------------------------------------------
async def _with_team(client: SaasClient, target: SyncTarget) -> SyncTarget:
    """The target with its envelopes' ``team_slug``: the session's private team, asked of the host
    (``/api/v1/me``) when the session does not say (an env token, a session stored without teams)."""
    import dataclasses

    context = target.context
    if context is None or context.team_slug:
        return target
    me = await client.me()
    from orchestrator.sessions.auth import Session

    team = Session("-", target.server_url).with_identity(me).private_team
    if not team:
        raise SyncError(catalog.SYNC_NO_PRIVATE_TEAM.filled(url=target.server_url).render())
    return dataclasses.replace(target, context=context._replace(team_slug=team))


class _Batch:
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
            queue.park(key, parked)
        return list(dict.fromkeys(acked)), len(parked)


# The host's per-event refusals that no re-send will change (the reference client's
# delivery/receivers.py TERMINAL_REJECTION_CATEGORIES): parked until `sync retry`.
TERMINAL_REJECTIONS = frozenset({"project_not_admitted", "project_not_consented", "project_refused"})


async def _drain(client: SaasClient, queue: EventQueue, target: SyncTarget, run: _Run, batch_size: int,
                 progress: Progress | None, scan: _Scan | None = None) -> None:
    """Upload pending rows oldest first, as envelopes, until none are left; ack only what the host acked.

    One request is in flight at a time (the server stores events in the order they were logged), but
    the local work (acking the previous batch, scanning more of the log, reading and building the next
    batch) runs in a worker thread while the current batch is on the wire, so sqlite and the server
    work side by side. A crash anywhere leaves unacked rows queued; a re-send carries the same envelope
    ids, which the host stores once. With ``scan``, the log is scanned as the queue runs low rather than
    all beforehand, and the progress total counts the rows not scanned yet from the log's size.
    """
    import asyncio

    from orchestrator.saas.client import RequestFailed

    key = target.key
    waiting = queue.count(key)  # rows queued and not acked, as far as this drain knows
    unacked: list[str] = []  # acknowledged by the server, not yet removed from the queue

    def read(limit: int, after: int = 0, in_flight: int = 0) -> _Batch:
        """The next batch after queue position ``after`` (the last row on the wire), built: a read-ahead
        never reads the rows in flight again."""
        nonlocal waiting
        while True:  # scan until two batches wait (the next one, and one to read ahead) or the log ends
            while scan is not None and not scan.done and waiting - in_flight < 2 * limit:
                waiting += scan.step()
            found = queue.pending_after(key, limit, after)
            rows = _within_budget([(event_id, text) for _, event_id, text in found])
            if rows or scan is None or scan.done:
                return _Batch(target, rows, found[len(rows) - 1][0] if rows else after)
            waiting = in_flight  # another process acked what this drain counted: scan on

    def settle_and_read_ahead(after: int, in_flight: int, limit: int) -> _Batch:
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


async def _bisect(client: SaasClient, queue: EventQueue, target: SyncTarget, run: _Run, batch: _Batch,
                  refusal: Exception) -> None:
    """Find the events the host refuses by halving the refused batch: the others are uploaded and acked,
    each refused one is parked with the host's reason, so one bad event never blocks the rest.

    Before parking, an empty batch checks that the host judges what it is sent (``400 "No events
    provided"``): if it refuses that some other way, the trouble is not the event, and the original error
    is raised instead of parking everything."""
    from orchestrator.saas.client import RequestFailed

    key = target.key
    checked = False
    pending = [batch.rows]
    while pending:
        rows = pending.pop()
        part = _Batch(target, rows, batch.last)
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
            queue.park(key, [Parked(event_id, text, catalog.PARK_REASON_REFUSED.format(detail=error.detail or error))])
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


def held_row(row: dict[str, Any]) -> bool:
    """Whether a row may name a pushed lane: it has an event id, and a ``wp_id`` the SaaS accepts
    (a row with another ``wp_id`` is parked by the scan, so the server never holds it)."""
    wp_id = row.get("wp_id")
    return isinstance(row.get("event_id"), str) and not (
        "wp_id" in row and not (isinstance(wp_id, str) and wp_id.isascii() and WP_ID_ASCII.fullmatch(wp_id)))


def held_rows(queue: EventQueue, key: str, log_path: Path) -> list[dict[str, Any]]:
    """The log's rows the server holds: scanned into the queue and neither pending nor parked. Reads
    the whole scanned log: the reference ``held_lanes`` is tested against, not what a sync runs."""
    import json

    offset = queue.scanned_offset(key, log_path)
    if offset <= 0:
        return []
    try:
        with open(log_path, "rb") as handle:
            data = handle.read(offset)
    except OSError:
        return []
    skip = queue.not_held(key)
    rows = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(row, dict) and row.get("event_id") not in skip and held_row(row):
            rows.append(row)
    return rows


def held_lanes(queue: EventQueue, key: str, log_path: Path) -> dict[str, dict[str, Any]]:
    """The work packages folded from the rows the server holds (``held_rows``), reading only the rows
    scanned since the last sync: the fold of the rows before is kept in the repo's cache
    (``orchestrator.missions.foldcache``, view ``held``) and is byte-for-byte the fold of the whole scanned log.

    The lanes pushed to the tracker come from these only, so every ``last_event_id`` it is told is one
    it stores (a row past the scan, still queued, or parked never names a lane). Streamed and never
    raising on a bad line, so one malformed line cannot stop the tracker sync."""
    offset = queue.scanned_offset(key, log_path)
    if offset <= 0:
        return {}
    try:
        fold, _, _ = foldcache.fold_mission(log_path.parent, save=True, view="held", end=offset, admit=held_row,
                                            exclude=queue.not_held(key))
    except OSError:
        return {}
    work_packages: dict[str, dict[str, Any]] = fold.snapshot()["work_packages"]
    return work_packages


async def _tracker(client: SaasClient, queue: EventQueue, target: SyncTarget, run: _Run) -> bool:
    """Pull the tracker's changes, apply or report them, then push the lanes that moved here; returns
    whether transitions were appended to the log.

    Through ``pull/`` and ``push/`` with spec-kitty's routing keys (``provider``, ``binding_ref`` or
    ``project_slug``), in the session's shared team. Conflicts follow the binding's ownership mode: a
    work package that moved both here and on the tracker since the last sync keeps the local lane when
    the log owns the status (``spec_kitty_authoritative``, the default, and ``split_ownership`` unless
    ``status`` is the tracker's), recorded for ``sync status`` and printed by ``sync run``; when the
    tracker owns it (``external_authoritative``, or ``split_ownership`` with ``status: external``) its
    lane is appended as a forced transition with the reason, and the conflict is recorded as resolved
    that way. The pull comes first and pushes nothing, because a push overrides the tracker's lane and
    a pull never returns a client's own change: pushing first would hide the conflict.
    """
    from orchestrator.tracker.service import TrackerRoute, convert_legacy, team_of

    key = target.key
    assert target.tracker is not None
    team = target.tracker_team or await team_of(client, None, target.server_url)
    binding = target.tracker
    if binding.legacy:
        binding = await convert_legacy(client, target.repo_root, team, target.server_url)
        run.notes.append(catalog.TRACKER_MIGRATED.format(old=paths.repo_config_file(target.repo_root),
                                                         new=target.repo_root / ".kittify" / "config.yaml"))
    route = TrackerRoute(binding, team)
    snapshot: dict[str, dict[str, Any]] = {}
    if target.mission_dir is not None:
        snapshot = held_lanes(queue, key, target.mission_dir / paths.EVENTS_FILE)
    base = queue.synced_lanes(key)
    moved = {wp_id for wp_id, wp in snapshot.items() if wp.get("last_event_id") != base.get(wp_id)}
    # Without a previous sync there is no "since": the first sync of a mission takes remote changes
    # as before (and records the base from then on).
    compare = bool(base) and run.cursor is not None
    changes, cursor = await _pull(client, route, target.mission, run.cursor)
    if target.mission_dir is None:
        return False  # nowhere to apply changes: keep the cursor so they are pulled once the folder exists
    owner = binding.status_owner()
    applied: dict[str, str] = {}
    for change in changes:
        wp_id, lane, seq = change.get("wp_id"), change.get("status"), change.get("seq")
        # spec-kitty work packages are WPnn; a remote issue named otherwise has no local counterpart
        if not (isinstance(wp_id, str) and WP_ID_ASCII.fullmatch(wp_id) and lane in LANES):
            continue
        local = snapshot.get(wp_id, {})
        local_lane = local.get("lane")
        # Without a sync history there is no "since", but a tracker change older than the log's last move
        # of that work package (a queue moved aside, a new host spelling) is not news to the log.
        stale = not compare and local_lane is not None and local_lane != lane and _older(
            change.get("changed_at"), local.get("last_transition_at"))
        forced = (compare and wp_id in moved and local_lane != lane) or stale
        if forced and owner != "external":
            _conflict(queue, run, key, wp_id, str(local_lane), str(lane))
            continue
        reason = catalog.TRACKER_WINS_REASON.format(mode=binding.ownership_mode, remote_lane=lane,
                                                    local_lane=local_lane) if forced else PULL_REASON
        row = append_transition(target.mission_dir, wp_id, str(lane), actor=PULL_ACTOR, reason=reason,
                                force=True if forced else None,
                                skip_if=_already_applied(queue, key, str(lane), local_lane, seq, forced))
        if row is None:
            continue
        if forced:
            _conflict(queue, run, key, wp_id, str(local_lane), str(lane), kept="remote")
        applied[wp_id] = str(row["event_id"])
        moved.discard(wp_id)
        run.pulled += 1
    lanes = _pushable({wp_id: wp for wp_id, wp in snapshot.items() if wp_id in moved})
    if lanes:
        await client.tracker_push(team, binding.provider, binding.routing(), [
            {"ref": f"{target.mission}/{wp_id}", "action": "set_status", "target_status": lane["lane"],
             "patch": {"last_event_id": lane["last_event_id"]}} for wp_id, lane in lanes.items()])
    queue.set_synced_lanes(key, {**{wp: v["last_event_id"] for wp, v in lanes.items()}, **applied})
    run.cursor = cursor
    queue.set_cursor(key, cursor)
    return bool(applied)


MAX_PULL_PAGES = 100  # a host that keeps saying has_more stops here; the rest comes next run


async def _pull(client: SaasClient, route: Any, mission: str, cursor: int | None) -> tuple[list[dict[str, Any]], int]:
    """Every change since ``cursor``, page after page, kept when it is this mission's (each item names its
    ``mission_slug``; the request carries only spec-kitty's keys); the new cursor. A cursor this client
    cannot store (not a number) counts as none: the pull starts over."""
    binding = route.binding
    changes: list[dict[str, Any]] = []
    text = str(cursor) if cursor is not None else None
    for _ in range(MAX_PULL_PAGES):
        answer = await client.tracker_pull(route.team, binding.provider, binding.routing(), cursor=text)
        changes += [item for item in answer.get("items") or [] if isinstance(item, dict)
                    and item.get("mission_slug") == mission]
        following = answer.get("next_cursor")
        text = str(following) if following is not None else text
        if not answer.get("has_more"):
            break
    return changes, int(text) if text is not None and text.isdigit() else 0


def _older(remote_at: object, local_at: object) -> bool:
    """Whether a tracker change made at ``remote_at`` is older than the local move at ``local_at`` (False
    when either time is missing or unreadable, or they are equal: then the change is news, as before)."""
    from orchestrator.sessions.auth import parse_time

    remote = parse_time(remote_at) if isinstance(remote_at, str) else None
    local = parse_time(local_at) if isinstance(local_at, str) else None
    return remote is not None and local is not None and remote < local


def _already_applied(queue: EventQueue, key: str, lane: str, local_lane: object, seq: object,
                     forced: bool = False) -> Callable[[str], bool]:
    """The decision taken under the log's lock: skip when the log already has the lane (a concurrent
    sync applied it), when another sync already moved the cursor past this change, or when the work
    package moved here since the snapshot (the operator's move wins; it is pushed next run)."""

    def skip(current: str) -> bool:
        if current == lane:
            return True
        stored = queue.get_cursor(key)
        if stored is not None and isinstance(seq, int) and stored >= seq:
            return True
        return local_lane is not None and current != local_lane and not forced

    return skip


def _conflict(queue: EventQueue, run: _Run, key: str, wp_id: str, local_lane: str, remote_lane: str,
              kept: str = "local") -> None:
    queue.add_conflict(key, wp_id, local_lane, remote_lane, kept)
    run.conflicts.append({"wp_id": wp_id, "local_lane": local_lane, "remote_lane": remote_lane, "kept": kept})


def _pushable(snapshot: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The lanes the server will accept: one odd row in a log must not make every tracker sync fail."""
    lanes = {}
    for wp_id, wp in snapshot.items():
        lane, last_event_id = wp.get("lane"), wp.get("last_event_id")
        if WP_ID.fullmatch(wp_id) and lane in LANES and isinstance(last_event_id, str) and last_event_id:
            lanes[wp_id] = {"lane": str(lane), "last_event_id": last_event_id}
    return lanes


def _outcome(run: _Run, queued: int, error: str | None) -> dict[str, Any]:
    return {"pushed": run.pushed, "pulled": run.pulled, "queued": queued, "cursor": run.cursor, "error": error}
