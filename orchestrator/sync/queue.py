"""The durable event queue: mission log rows wait here until the SaaS has acknowledged them.

One sqlite file (``~/.spec-kitty/sync-queue.sqlite3``) shared by every CLI run and the background
daemon. Design points, each answering a way such queues lose or double events:

- *Nothing leaves before the server said so*: a row moves from ``pending`` to ``acked`` only in
  :meth:`EventQueue.ack`, called with the ids the server listed. A crash at any point leaves each row
  either still pending (re-sent; the server dedups by ``event_id``) or acked, never both, never neither.
- *Idempotent by event id*: ``(mission, event_id)`` is unique in ``pending`` and remembered in ``acked``,
  so re-scanning a log, a ``wp move`` queueing the row it just wrote, and a daemon and a CLI racing on
  the same log all queue each row at most once.
- *Incremental, verbatim scans*: a checkpoint per log (byte offset, and the SHA-256 of every byte before
  it, hashed as the scan read them) lets a scan parse only what was appended, once the prefix of the log
  as it is now hashes the same (``orchestrator.missions.logproof``: a log's identity is its content, never its
  inode, which git reuses); the row text is kept exactly as the log holds it, so the upload is
  byte-identical to the log. Rows and checkpoint commit together.
- *Several processes*: WAL (readers never block the writer), a busy timeout, and ``BEGIN IMMEDIATE``
  for every write so two writers queue up instead of failing on a lock upgrade.
- *Durability*: ``synchronous=NORMAL`` under WAL survives any process crash; a power cut may forget the
  last commits, which only means re-sending (acks) or re-scanning (rows and checkpoint roll back together).

Imported on local paths too (``wp move`` queues its row, ``tracker status`` counts), so it uses only the
standard library's cheap modules and never creates the file on a read.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

from orchestrator.errors import SpecKittyError
from orchestrator.missions import logproof
from states.contract import WP_ID as WP_ID_ASCII  # ASCII digits, bounded: what the SaaS accepts

F = TypeVar("F", bound=Callable[..., Any])

SCHEMA_VERSION = 4  # 2 added the dead-letter (parked), conflicts and synced_lanes tables; 3: content-proven
# checkpoints (a version 2 checkpoint, trusted by inode and last bytes, is dropped: one full rescan)
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's transaction (a big scan holds one briefly)
SCAN_CHUNK = 1024 * 1024  # bytes read (and committed) per step of a log scan: bounds memory (parsed rows ~5x)
# One row must fit one request as an envelope: the hosted ingress refuses a batch over 512 KiB decompressed
# (the reference client's sync/sync_dispatch_core.py cites its limits.py); a bigger row is parked at scan.
MAX_ROW_BYTES = 500 * 1024
ACKED_KEEP = 200_000  # acked ids remembered per mission; older ones are pruned (the server dedups re-sends)
WAL_KEEP = 4 * 1024 * 1024  # bytes the -wal file is truncated to after a checkpoint
COMPACT_MIN_PAGES = 64  # free pages (512 KiB) before ``compact`` bothers
WAL_IDLE = 256 * 1024  # a ``-wal`` file bigger than this after a sync is checkpointed and truncated

_SCHEMA = """
CREATE TABLE IF NOT EXISTS missions (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    cursor INTEGER,
    last_result TEXT
);
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY,
    mission INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    row TEXT NOT NULL,
    queued_at REAL,
    UNIQUE (mission, event_id)
);
CREATE INDEX IF NOT EXISTS pending_by_mission ON pending (mission);
CREATE TABLE IF NOT EXISTS acked (
    mission INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (mission, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    mission INTEGER NOT NULL,
    path TEXT NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    settled INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    digest BLOB NOT NULL,
    PRIMARY KEY (mission, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parked (
    seq INTEGER PRIMARY KEY,
    mission INTEGER NOT NULL,
    ref TEXT NOT NULL,
    row TEXT NOT NULL,
    reason TEXT NOT NULL,
    parked_at TEXT NOT NULL,
    dropped INTEGER NOT NULL DEFAULT 0,
    UNIQUE (mission, ref)
);
CREATE TABLE IF NOT EXISTS conflicts (
    seq INTEGER PRIMARY KEY,
    mission INTEGER NOT NULL,
    wp_id TEXT NOT NULL,
    local_lane TEXT NOT NULL,
    remote_lane TEXT NOT NULL,
    at TEXT NOT NULL,
    kept TEXT
);
CREATE TABLE IF NOT EXISTS health (
    mission INTEGER PRIMARY KEY,
    last_success TEXT,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS synced_lanes (
    mission INTEGER NOT NULL,
    wp_id TEXT NOT NULL,
    last_event_id TEXT NOT NULL,
    PRIMARY KEY (mission, wp_id)
) WITHOUT ROWID;
"""

_INSERT = (
    "INSERT OR IGNORE INTO pending (mission, event_id, row, queued_at) SELECT ?1, ?2, ?3, ?4 "
    "WHERE NOT EXISTS (SELECT 1 FROM acked WHERE mission = ?1 AND event_id = ?2) "
    "AND NOT EXISTS (SELECT 1 FROM parked WHERE mission = ?1 AND ref = ?2)"
)
_PARK = (
    "INSERT OR IGNORE INTO parked (mission, ref, row, reason, parked_at) VALUES (?, ?, ?, ?, ?)"
)
KEEP_CONFLICTS = 50  # per mission, newest kept: `sync status` lists them, they must not grow forever


def mission_key(server_url: str, project: str, mission: str) -> str:
    """The queue's name for a mission of a project on a host: the host's origin (every spelling of one
    host is one queue), the project's uuid and the mission slug; the same mission synced to two hosts
    queues twice. Origins, uuids and slugs cannot contain ``|``, so the key splits back unambiguously.
    """
    from orchestrator.sessions.store import origin

    return f"{origin(server_url) or server_url.strip().rstrip('/')}|{project}|{mission}"


_ENCODE = json.JSONEncoder(sort_keys=True).encode  # built once: ``json.dumps(..., sort_keys=True)`` builds one per row


def event_row_text(row: dict[str, Any]) -> str:
    """A row as spec-kitty writes it to the log (``json.dumps(row, sort_keys=True)``), so a row queued
    straight from ``wp move`` uploads the same bytes a later log scan would have read."""
    return _ENCODE(row)


def _event_id(row: object) -> str | None:
    """The idempotency key, if the row has a usable one (the server refuses a whole batch otherwise)."""
    if isinstance(row, dict):
        event_id = row.get("event_id")
        if isinstance(event_id, str) and event_id:
            return event_id
    return None


# ``fold(seen, start, end, rows, before, after)``: the rows of ``[start, end)`` of the log ``seen``
# describes (its stat before the scan read it), with the SHA-256 of the log's bytes ``[0, start)`` and
# ``[0, end)`` as the scan read them (see ``EventQueue.scan_log``)
ScanFold = Callable[[logproof.Seen, int, int, list[dict[str, Any]], bytes, bytes], None]


class ScanStep(NamedTuple):
    """One committed step of a log scan: rows it queued, and bytes of the log read so far and in all."""

    added: int
    done: int  # bytes of this scan committed, from where it resumed
    size: int  # bytes this scan reads in all (rows appended meanwhile wait for the next scan)


class Parked(NamedTuple):
    """A row that cannot be uploaded as it is, kept with why (the dead-letter table's row)."""

    ref: str  # its event_id, or ``line@<byte offset>`` in the log for a row without one
    text: str
    reason: str


def classify(text: str, ref: str) -> tuple[str, str] | Parked:
    """``(event_id, text)`` for a row the SaaS can take, else a :class:`Parked` saying why not.

    Never raises: a line nested too deep for the JSON parser (RecursionError) is malformed like any
    other, so one bad line can never stop the rows after it."""
    return _classify(text, ref)[0]


_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # json.loads' own C scanner, set at init


def _classify(text: str, ref: str) -> tuple[tuple[str, str] | Parked, Any]:
    """``classify``, and the parsed row (None when the text is not JSON).

    A row as spec-kitty writes it (``{`` first, nothing after the object) goes straight to the C
    scanner ``json.loads`` ends in (the same parser on the same text, without its Python layers);
    anything else, errors included, is read by ``json.loads`` itself."""
    try:
        if text[:1] != "{":
            raise ValueError
        row, end = _SCAN(text, 0)
        if end != len(text):
            raise ValueError
    except (ValueError, StopIteration, RecursionError):
        try:
            row = json.loads(text)
        except (ValueError, RecursionError) as exc:
            from states import catalog

            return Parked(ref, text, catalog.PARK_REASON_NOT_JSON.format(error=type(exc).__name__)), None
    return _classify_row(row, text, ref), row


def _classify_row(row: Any, text: str, ref: str) -> tuple[str, str] | Parked:
    """The checks of ``classify`` on a parsed row (the catalog is imported only to park one)."""
    if not isinstance(row, dict):
        from states import catalog

        return Parked(ref, text, catalog.PARK_REASON_NOT_OBJECT)
    event_id = row.get("event_id")
    if not (isinstance(event_id, str) and event_id):
        from states import catalog

        return Parked(ref, text, catalog.PARK_REASON_NO_EVENT_ID)
    if len(text) > MAX_ROW_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_ROW_BYTES:
        from states import catalog

        size = len(text.encode("utf-8", "surrogatepass"))
        return Parked(event_id, text, catalog.PARK_REASON_TOO_LARGE.format(size=size, limit=MAX_ROW_BYTES))
    if "wp_id" in row and "to_lane" in row and not ("kind" in row or "event_type" in row or "type" in row):
        wp_id = row["wp_id"]
        if not (isinstance(wp_id, str) and wp_id.isascii() and WP_ID_ASCII.fullmatch(wp_id)):
            from states import catalog

            return Parked(event_id, text, catalog.PARK_REASON_BAD_WP)
    return event_id, text


def _parse_lines(chunk: bytes, offset: int,
                 rows: list[dict[str, Any]] | None = None) -> tuple[list[tuple[str, str]], list[Parked]]:
    """Usable rows and parked ones among the complete lines of ``chunk`` (which starts at ``offset``).

    With ``rows``, every line that ``json.loads`` (of the line's bytes, as the lane fold reads it)
    makes an object is also appended there, in log order, parked or not: the sync folds lanes from
    the same parse (see ``scan_log``)."""
    found: list[tuple[str, str]] = []
    parked: list[Parked] = []
    position = offset
    for raw in chunk.split(b"\n"):
        at, position = position, position + len(raw) + 1
        if not raw.strip():
            continue
        ref = f"line@{at}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            parked.append(Parked(ref, raw.decode("utf-8", "replace"), _not_json("UnicodeDecodeError")))
            if rows is not None:
                _object_of(raw, rows)
            continue
        outcome, row = _classify(text, ref)
        (parked if isinstance(outcome, Parked) else found).append(outcome)  # type: ignore[arg-type]
        if rows is not None:
            if isinstance(row, dict):
                rows.append(row)
            elif row is None:  # not JSON as UTF-8 text; json.loads of the bytes may still read it
                _object_of(raw, rows)  # (a UTF-8 BOM, UTF-16): the fold's reader does
    return found, parked


def _object_of(raw: bytes, rows: list[dict[str, Any]]) -> None:
    try:
        row = json.loads(raw)
    except (ValueError, RecursionError):
        return
    if isinstance(row, dict):
        rows.append(row)


def _not_json(error: str) -> str:
    from states import catalog

    return catalog.PARK_REASON_NOT_JSON.format(error=error)


def _complete_object(raw: bytes) -> bool:
    """Whether a last line without its newline is already a whole JSON object (an editor's last line),
    rather than a row still being written: only then is it queued before its newline arrives."""
    if not raw.strip().endswith(b"}"):
        return False
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


class QueueError(SpecKittyError):
    """The queue file cannot be used: one line naming the file and what to do, never a DatabaseError."""


def _problem(path: Path, exc: BaseException) -> QueueError:
    """The operator's line for a sqlite or OS failure on the queue (the real error, not a follow-up)."""
    from states import catalog

    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        action = catalog.QUEUE_ACTION_BUSY
    elif "full" in lowered or getattr(exc, "errno", None) == 28:
        action = catalog.QUEUE_ACTION_FULL
    elif "readonly" in lowered or "read-only" in lowered or "permission" in lowered or "unable to open" in lowered \
            or isinstance(exc, PermissionError) or text == catalog.QUEUE_NOT_YOURS:
        action = catalog.QUEUE_ACTION_PERMS
    else:
        action = catalog.QUEUE_ACTION_CORRUPT
    return QueueError(catalog.QUEUE_UNUSABLE.format(path=path, error=" ".join(text.split()), action=action))


def _guarded(method: F) -> F:
    """Turn sqlite and OS errors of a queue method into one :class:`QueueError` naming the file."""

    @functools.wraps(method)
    def wrapper(self: EventQueue, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except QueueError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise self._failure(exc) from None

    return wrapper  # type: ignore[return-value]


def _now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _switch_to_wal(db: sqlite3.Connection, patience: float) -> None:
    """``PRAGMA journal_mode=WAL``, waiting out a concurrent opener.

    Two processes opening a brand-new queue at once race to switch it to WAL; sqlite answers the loser
    "database is locked" at once, without its busy handler, so the wait is ours to do (bounded like
    every other wait on the queue)."""
    waited, pause = 0.0, 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or waited >= patience:
                raise
        time.sleep(pause)
        waited += pause
        pause = min(pause * 2, 0.1)


class EventQueue:
    """The queue file, opened lazily: constructing one (or reading from a missing file) creates nothing."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None
        self._acked: dict[int, int] = {}  # mission -> acked ids it holds, as far as this process knows

    def __repr__(self) -> str:
        return f"EventQueue({str(self.path)!r})"

    def _failure(self, exc: sqlite3.Error | OSError) -> BaseException:
        """What a sqlite or OS error of a queue method becomes (see ``_guarded``): a vanished log is
        the caller's concern (raised as it is), an unreadable one names that file, else the queue's."""
        other = getattr(exc, "filename", None)
        if other not in (None, str(self.path)) and not str(other).startswith(str(self.path)):
            if isinstance(exc, FileNotFoundError | NotADirectoryError):
                return exc  # a log file vanished: the caller's concern, not the queue's
            from states import catalog  # a mission log, not the queue: name that file

            reason = getattr(exc, "strerror", None) or exc
            return QueueError(catalog.LOG_UNREADABLE.format(path=other, error=reason))
        return _problem(self.path, exc)

    # --- connection -----------------------------------------------------------------------------
    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        """The open connection; ``None`` for a read when the file does not exist yet.

        The folder and the file must be the operator's and not symlinks: a queue planted by someone
        else (or a link to another file) could feed or swallow events, so it is refused."""
        from states import catalog

        if self._db is not None:
            return self._db
        try:
            found = os.lstat(self.path)
        except FileNotFoundError:
            found = None
        if found is None:
            if not create:
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Born 0600 (sqlite gives its -wal and -shm files the database's mode); O_CREAT without
            # O_EXCL so a concurrent creator is harmless: an empty file is a valid new database.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
            found = os.lstat(self.path)
        folder = os.lstat(self.path.parent)
        uid = os.getuid()
        if stat.S_ISLNK(found.st_mode) or not stat.S_ISREG(found.st_mode) or found.st_uid != uid \
                or folder.st_uid != uid or folder.st_mode & 0o022:
            raise OSError(catalog.QUEUE_NOT_YOURS)
        # check_same_thread=False: the drain hands ack/read work to a worker thread while a batch is on
        # the wire; calls never overlap (each is awaited before the next), which is all sqlite3 needs.
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA page_size=8192")  # only takes effect on a new file; rows are ~0.5-5 KiB
            _switch_to_wal(db, self.busy_timeout)
            db.execute(f"PRAGMA journal_size_limit={WAL_KEEP}")  # a big scan must not leave a big -wal file
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                with _transaction(db):  # idempotent, and skipped on every later open: no write lock per open
                    columns = {r[1] for r in db.execute("PRAGMA table_info(pending)")}
                    if columns and "queued_at" not in columns:  # a version 1 queue
                        db.execute("ALTER TABLE pending ADD COLUMN queued_at REAL")
                    conflict_columns = {r[1] for r in db.execute("PRAGMA table_info(conflicts)")}
                    if conflict_columns and "kept" not in conflict_columns:  # version 4: who won a conflict
                        db.execute("ALTER TABLE conflicts ADD COLUMN kept TEXT")
                    if "tail" in {r[1] for r in db.execute("PRAGMA table_info(checkpoints)")}:
                        db.execute("DROP TABLE checkpoints")  # trusted by inode: never proven, rescan once
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        self._db = db
        return db

    # --- writing ----------------------------------------------------------------------------------
    @_guarded
    def enqueue(self, mission_key: str, rows: Iterable[dict[str, Any]]) -> int:
        """Queue rows (dicts) for upload; returns how many were new (queued or acked ones are skipped)."""
        pairs: list[tuple[str, str]] = []
        parked: list[Parked] = []
        for row in rows:
            event_id = _event_id(row)
            if event_id is None:
                continue
            outcome = classify(event_row_text(row), event_id)
            if isinstance(outcome, Parked):
                parked.append(outcome)
            else:
                pairs.append(outcome)
        if not pairs and not parked:
            return 0
        db = self._require()
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            self._park(db, mission, parked)
            return self._insert(db, mission, pairs)

    @_guarded
    def scan_log(self, mission_key: str, log_path: Path, fold: ScanFold | None = None) -> int:
        """Queue the log's rows this queue has not seen yet; returns how many were new.

        Parses from the checkpoint when the log's bytes before it hash as the ones the checkpoint read
        did (``orchestrator.missions.logproof``; a file unwritten since a whole scan is not read at all), else
        from the start: a shrunk, rewritten or other branch's log is rescanned whole, and idempotency
        skips what was already queued or acked. A row
        that can never be uploaded (malformed, too large, not a WP id) is parked with its reason and the
        scan moves on. A last line without a newline counts once it is a whole JSON object; anything
        else there is a row still being written, read again once its newline arrives.

        ``fold(seen, start, end, rows, before, after)`` is called after each committed step with the rows
        parsed from ``[start, end)`` of the file ``seen`` describes and the hashes of ``[0, start)`` and
        ``[0, end)``, so the sync folds lanes in the same pass (and proves its saved fold without a read).
        """
        return sum(step.added for step in self.scan_steps(mission_key, log_path, fold))

    def scan_steps(self, mission_key: str, log_path: Path, fold: ScanFold | None = None,
                   chunk: int = SCAN_CHUNK) -> Generator[ScanStep, None, None]:
        """``scan_log`` one committed step (about ``chunk`` bytes) at a time, so a sync can upload the
        rows of one step while it scans the next: each step commits its rows with the checkpoint, as a
        whole scan does, so stopping between steps (or a crash) leaves a scan that resumes there."""
        steps = self._scan_steps(mission_key, log_path, fold, chunk)
        try:
            while True:
                try:
                    step = next(steps)
                except StopIteration:
                    return
                except QueueError:
                    raise
                except (sqlite3.Error, OSError) as exc:
                    raise self._failure(exc) from None
                yield step
        finally:
            steps.close()

    def _scan_steps(self, mission_key: str, log_path: Path, fold: ScanFold | None,
                    chunk: int) -> Generator[ScanStep, None, None]:
        try:
            fd = os.open(log_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO must not block the open
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink planted where the log should be is not followed
                return
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return
        seen = logproof.seen(st)  # taken before the first byte is read (see logproof: "settled")
        path_key = os.path.abspath(log_path)
        with open(fd, "rb", closefd=True) as handle:
            db = self._require()
            resumed = self._resume(db, mission_key, path_key, st, fd)
            if resumed is None:
                return  # unwritten since a scan read all of it
            offset, running, stored = resumed
            handle.seek(offset)
            remaining = st.st_size - offset  # rows appended during the scan wait for the next scan
            start, carry = offset, b""  # ``carry`` (an incomplete line) begins at file offset ``start``
            before = running.copy().digest()  # of ``[0, start)``: the prefix hash grows with each step
            whole = False  # whether the last checkpoint stored covers every byte this scan meant to read
            while remaining > 0 or carry:
                block = handle.read(min(chunk, remaining)) if remaining > 0 else b""
                remaining -= len(block)
                data = carry + block
                cut = data.rfind(b"\n") + 1
                if remaining <= 0 and cut < len(data) and _complete_object(data[cut:]):
                    cut = len(data)  # the final line without a newline is a whole object: take it
                carry = data[cut:]
                if cut == 0:
                    if not block:
                        break
                    continue
                end = start + cut
                running.update(memoryview(data)[:cut])  # each byte hashed once, in order, as it is read
                after = running.copy().digest()
                rows: list[dict[str, Any]] | None = [] if fold is not None else None
                pairs, parked = _parse_lines(data[:cut], start, rows)
                whole = remaining <= 0
                with _transaction(db):
                    mission = self._mission_id(db, mission_key)
                    self._park(db, mission, parked)
                    added = self._insert(db, mission, pairs) if pairs else 0
                    self._store_checkpoint(db, mission, path_key, seen, end, after, whole)
                if fold is not None and rows is not None:
                    fold(seen, start, end, rows, before, after)
                yield ScanStep(added, end - offset, st.st_size - offset)
                start, before = end, after
                if not block:
                    break
            # nothing new (or only a line still being written): remember the file as read, unless the
            # checkpoint already says exactly that (fifty commands scanning one log write nothing)
            if not whole and stored != (*seen[:5], start, int(seen.settled)):
                with _transaction(db):
                    self._store_checkpoint(db, self._mission_id(db, mission_key), path_key, seen, start, before,
                                           True)

    @_guarded
    def compact(self) -> None:
        """Give the pages of drained rows back to the file system once they are most of the file.

        A drained queue's only live data are the acked ids (bounded by ``ACKED_KEEP``) and a few small
        tables, but sqlite keeps a file at its high-water mark: after a 1M-row sync that was ~800 MB of
        free pages. ``VACUUM`` copies only the live pages (a few MiB, milliseconds), so it runs when at
        least a quarter of the file is free. (``PRAGMA incremental_vacuum`` frees one page per step
        through Python's sqlite3, which makes it no cheaper.) A sync that scans while it drains reuses
        freed pages and leaves few, but its ``-wal`` file (up to ``WAL_KEEP``) was then most of the
        queue's bytes: a ``-wal`` over ``WAL_IDLE`` is checkpointed and truncated too."""
        db = self._connect(create=False)
        if db is None:
            return
        free = int(db.execute("PRAGMA freelist_count").fetchall()[0][0])
        pages = int(db.execute("PRAGMA page_count").fetchall()[0][0])
        if free >= COMPACT_MIN_PAGES and free * 4 >= pages:
            db.execute("VACUUM")
        else:
            try:
                wal = os.path.getsize(f"{self.path}-wal")
            except OSError:
                return
            if wal <= WAL_IDLE:
                return
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        # (fetchall, not fetchone: a statement left before its last step keeps a read transaction open
        # on this connection, and a concurrent sync then found the queue locked)

    @_guarded
    def ack(self, mission_key: str, event_ids: Iterable[str]) -> None:
        """The server has these: forget them as pending and remember them as acked, atomically.

        Acked ids are kept only up to ``ACKED_KEEP`` per mission (ULIDs sort by time, the oldest go):
        they only save re-sending after a log is rescanned whole, and the server dedups a re-send."""
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return
        db = self._require()
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            pairs = [(mission, event_id) for event_id in ids]
            if mission not in self._acked:
                self._acked[mission] = int(db.execute("SELECT COUNT(*) FROM acked WHERE mission = ?",
                                                      (mission,)).fetchall()[0][0])
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO acked (mission, event_id) VALUES (?, ?)", pairs)
            self._acked[mission] += db.total_changes - before
            db.executemany("DELETE FROM pending WHERE mission = ? AND event_id = ?", pairs)
            if self._acked[mission] > self.acked_keep + max(1, self.acked_keep // 10):
                self._prune(db, mission)

    def _prune(self, db: sqlite3.Connection, mission: int) -> None:
        """Down to ``acked_keep`` ids, newest kept. Run once the count (followed in memory from one
        ``COUNT`` per open) is 10% over: finding the cut walks ``acked_keep`` index entries, which
        after every batch made a 1M-row sync spend ~15% of its time here."""
        over = db.execute(
            "SELECT event_id FROM acked WHERE mission = ? ORDER BY event_id DESC LIMIT 1 OFFSET ?",
            (mission, self.acked_keep),
        ).fetchone()
        if over is not None:
            db.execute("DELETE FROM acked WHERE mission = ? AND event_id <= ?", (mission, over[0]))
        self._acked[mission] = min(self._acked[mission], self.acked_keep)

    acked_keep = ACKED_KEEP

    @_guarded
    def set_cursor(self, mission_key: str, cursor: int | None) -> None:
        """Remember the tracker change-log position the server last returned."""
        db = self._require()
        with _transaction(db):
            db.execute("UPDATE missions SET cursor = ? WHERE id = ?", (cursor, self._mission_id(db, mission_key)))

    @_guarded
    def record_result(self, mission_key: str, result: dict[str, Any]) -> None:
        """Keep the outcome of the last sync for ``tracker status`` and the daemon (``time`` added if
        absent), and the last success and last error apart, for ``sync status``: a failure never hides
        when sync last worked, and a later success clears the error it answered."""
        stored = {"time": _now_text(), **result}
        db = self._require()
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            db.execute("UPDATE missions SET last_result = ? WHERE id = ?",
                       (json.dumps(stored, sort_keys=True), mission))
            db.execute("INSERT OR IGNORE INTO health (mission) VALUES (?)", (mission,))
            if stored.get("error"):
                db.execute("UPDATE health SET last_error = ? WHERE mission = ?",
                           (json.dumps({"time": stored["time"], "error": stored["error"]}), mission))
            else:
                # a success answers the last error: `sync status` shows an error only while it still stands
                db.execute("UPDATE health SET last_success = ?, last_error = NULL WHERE mission = ?",
                           (stored["time"], mission))

    @_guarded
    def health(self, mission_key: str) -> tuple[str | None, dict[str, Any] | None]:
        """``(time of the last success, {"time", "error"} of the last failure)``, either None if never."""
        db = self._connect(create=False)
        if db is None:
            return None, None
        found = db.execute("SELECT h.last_success, h.last_error FROM health h JOIN missions m ON m.id = h.mission "
                           "WHERE m.key = ?", (mission_key,)).fetchone()
        if not found:
            return None, None
        return found[0], self._decode(found[1])

    # --- dead letters -------------------------------------------------------------------------------
    @_guarded
    def park(self, mission_key: str, rows: Iterable[Parked]) -> None:
        """Move rows out of the way with their reason (the server refused them, one by one)."""
        rows = list(rows)
        if not rows:
            return
        db = self._require()
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            db.executemany("DELETE FROM pending WHERE mission = ? AND event_id = ?", [(mission, r.ref) for r in rows])
            self._park(db, mission, rows)

    @_guarded
    def parked(self, mission_key: str) -> list[Parked]:
        """The rows parked (not dropped) for a mission, oldest first."""
        found = self._read("SELECT p.ref, p.row, p.reason FROM parked p JOIN missions m ON m.id = p.mission "
                           "WHERE m.key = ? AND p.dropped = 0 ORDER BY p.seq", (mission_key,))
        return [Parked(str(ref), str(text), str(reason)) for ref, text, reason in found]

    @_guarded
    def retry(self, mission_key: str, refs: list[str] | None) -> list[tuple[str, Parked | None]]:
        """Re-queue parked rows (all when ``refs`` is None): each comes back ``(ref, None)`` when queued
        again, ``(ref, Parked)`` when it still cannot go (malformed stays malformed), and a ref that is
        not parked comes back as ``(ref, Parked(ref, "", ""))`` with an empty reason."""
        db = self._require()
        outcomes: list[tuple[str, Parked | None]] = []
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            rows = self._select_parked(db, mission, refs)
            for ref in refs or []:
                if ref not in rows:
                    outcomes.append((ref, Parked(ref, "", "")))
            for ref, text in rows.items():
                outcome = classify(text, ref)
                if isinstance(outcome, Parked):
                    db.execute("UPDATE parked SET reason = ? WHERE mission = ? AND ref = ?",
                               (outcome.reason, mission, ref))
                    outcomes.append((ref, outcome))
                    continue
                db.execute("DELETE FROM parked WHERE mission = ? AND ref = ?", (mission, ref))
                self._insert(db, mission, [outcome])
                outcomes.append((ref, None))
        return outcomes

    @_guarded
    def drop(self, mission_key: str, refs: list[str] | None) -> tuple[list[str], list[str]]:
        """Discard parked rows for good: ``(dropped, unknown)``. A dropped row is remembered (not its
        text), so a later scan of the same log does not queue it again."""
        db = self._require()
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            rows = self._select_parked(db, mission, refs)
            db.executemany("UPDATE parked SET dropped = 1, row = '' WHERE mission = ? AND ref = ?",
                           [(mission, ref) for ref in rows])
        return list(rows), [ref for ref in refs or [] if ref not in rows]

    @staticmethod
    def _select_parked(db: sqlite3.Connection, mission: int, refs: list[str] | None) -> dict[str, str]:
        found = db.execute("SELECT ref, row FROM parked WHERE mission = ? AND dropped = 0 ORDER BY seq",
                           (mission,)).fetchall()
        wanted = None if refs is None else set(refs)
        return {str(ref): str(text) for ref, text in found if wanted is None or ref in wanted}

    # --- tracker bookkeeping ----------------------------------------------------------------------
    @_guarded
    def not_held(self, mission_key: str) -> set[str]:
        """Event ids the server may not hold: still pending, parked or dropped (the pushed lanes skip
        them, so a ``last_event_id`` sent to the tracker is always one the server stores)."""
        db = self._connect(create=False)
        if db is None:
            return set()
        mission = db.execute("SELECT id FROM missions WHERE key = ?", (mission_key,)).fetchone()
        if mission is None:
            return set()
        ids = {str(r[0]) for r in db.execute("SELECT event_id FROM pending WHERE mission = ?", mission)}
        ids.update(str(r[0]) for r in db.execute("SELECT ref FROM parked WHERE mission = ?", mission))
        return ids

    @_guarded
    def scanned_offset(self, mission_key: str, log_path: Path) -> int:
        """How far the log has been scanned into the queue (rows beyond are not uploaded yet)."""
        db = self._connect(create=False)
        if db is None:
            return 0
        found = db.execute(
            "SELECT c.offset FROM checkpoints c JOIN missions m ON m.id = c.mission WHERE m.key = ? AND c.path = ?",
            (mission_key, os.path.abspath(log_path))).fetchone()
        return int(found[0]) if found else 0

    @_guarded
    def synced_lanes(self, mission_key: str) -> dict[str, str]:
        """Per WP, the ``last_event_id`` the last successful tracker sync pushed (the conflict base)."""
        found = self._read("SELECT s.wp_id, s.last_event_id FROM synced_lanes s JOIN missions m ON m.id = s.mission "
                           "WHERE m.key = ?", (mission_key,))
        return {str(wp): str(eid) for wp, eid in found}

    @_guarded
    def set_synced_lanes(self, mission_key: str, lanes: dict[str, str]) -> None:
        db = self._require()
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            db.executemany("INSERT OR REPLACE INTO synced_lanes (mission, wp_id, last_event_id) VALUES (?, ?, ?)",
                           [(mission, wp, eid) for wp, eid in lanes.items()])

    @_guarded
    def add_conflict(self, mission_key: str, wp_id: str, local_lane: str, remote_lane: str,
                     kept: str = "local") -> None:
        """Record a conflict and which side's lane was kept (``local``, or ``remote``: the tracker's)."""
        db = self._require()
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            db.execute("INSERT INTO conflicts (mission, wp_id, local_lane, remote_lane, at, kept)"
                       " VALUES (?, ?, ?, ?, ?, ?)", (mission, wp_id, local_lane, remote_lane, _now_text(), kept))
            db.execute("DELETE FROM conflicts WHERE mission = ? AND seq NOT IN "
                       "(SELECT seq FROM conflicts WHERE mission = ? ORDER BY seq DESC LIMIT ?)",
                       (mission, mission, KEEP_CONFLICTS))

    @_guarded
    def conflicts(self, mission_key: str) -> list[dict[str, str]]:
        found = self._read("SELECT c.at, c.wp_id, c.local_lane, c.remote_lane, c.kept FROM conflicts c "
                           "JOIN missions m ON m.id = c.mission WHERE m.key = ? ORDER BY c.seq", (mission_key,))
        return [{"time": at, "wp_id": wp, "local_lane": lo, "remote_lane": re_, "kept": kept or "local"}
                for at, wp, lo, re_, kept in found]

    # --- reading (never creates the file) -------------------------------------------------------------
    @_guarded
    def pending(self, mission_key: str, limit: int) -> list[tuple[str, str]]:
        """The oldest ``limit`` queued rows as ``(event_id, row JSON text)``, in queueing order."""
        return [(event_id, text) for _, event_id, text in self.pending_after(mission_key, limit, 0)]

    @_guarded
    def pending_after(self, mission_key: str, limit: int, after: int) -> list[tuple[int, str, str]]:
        """``pending`` after queue position ``after``, each row with its position ``(seq, event_id,
        text)``: a drain reads the next batch while one is on the wire without reading that one again
        (a row queued later always gets a later position than every row still queued)."""
        rows = self._read("SELECT p.seq, p.event_id, p.row FROM pending p JOIN missions m ON m.id = p.mission "
                          "WHERE m.key = ? AND p.seq > ? ORDER BY p.seq LIMIT ?", (mission_key, after, limit))
        return [(int(seq), str(event_id), str(text)) for seq, event_id, text in rows]

    @_guarded
    def oldest_queued_at(self, mission_key: str) -> float | None:
        """When the oldest row still waiting was queued (epoch seconds), or None when nothing waits."""
        db = self._connect(create=False)
        if db is None:
            return None
        found = db.execute(
            "SELECT MIN(p.queued_at), COUNT(*) FROM pending p JOIN missions m ON m.id = p.mission WHERE m.key = ?",
            (mission_key,)).fetchone()
        if not found or not found[1]:
            return None
        return float(found[0]) if found[0] is not None else None

    @_guarded
    def mission_keys(self) -> list[str]:
        return [str(r[0]) for r in self._read("SELECT key FROM missions ORDER BY key", ())]

    @_guarded
    def count(self, mission_key: str | None = None) -> int:
        """Rows still waiting for an ack (for one mission, or all)."""
        db = self._connect(create=False)
        if db is None:
            return 0
        if mission_key is None:
            return int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
        found = db.execute(
            "SELECT COUNT(*) FROM pending WHERE mission = (SELECT id FROM missions WHERE key = ?)", (mission_key,)
        ).fetchone()
        return int(found[0])

    def get_cursor(self, mission_key: str) -> int | None:
        found = self._mission_field(mission_key, "cursor")
        return int(found) if found is not None else None

    def last_result(self, mission_key: str) -> dict[str, Any] | None:
        return self._decode(self._mission_field(mission_key, "last_result"))

    @staticmethod
    def _decode(found: Any) -> dict[str, Any] | None:
        if found is None:
            return None
        with contextlib.suppress(ValueError):
            result = json.loads(found)
            if isinstance(result, dict):
                return result
        return None

    @_guarded
    def acked_count(self, mission_key: str) -> int:
        """How many ids this queue remembers as acknowledged (tests and diagnostics)."""
        db = self._connect(create=False)
        if db is None:
            return 0
        found = db.execute(
            "SELECT COUNT(*) FROM acked WHERE mission = (SELECT id FROM missions WHERE key = ?)", (mission_key,)
        ).fetchone()
        return int(found[0])

    # --- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> EventQueue:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------------
    def _require(self) -> sqlite3.Connection:
        db = self._connect(create=True)
        assert db is not None
        return db

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """The rows a query finds; none when the queue file does not exist (a read never creates it)."""
        db = self._connect(create=False)
        return [] if db is None else db.execute(sql, params).fetchall()

    @_guarded
    def _mission_field(self, mission_key: str, column: str) -> Any:
        db = self._connect(create=False)
        if db is None:
            return None
        found = db.execute(f"SELECT {column} FROM missions WHERE key = ?", (mission_key,)).fetchone()
        return found[0] if found else None

    @staticmethod
    def _mission_id(db: sqlite3.Connection, mission_key: str) -> int:
        """The mission's row id (created on first write), so big tables hold an integer, not the key."""
        found = db.execute("SELECT id FROM missions WHERE key = ?", (mission_key,)).fetchone()
        if found:
            return int(found[0])
        return int(db.execute("INSERT INTO missions (key) VALUES (?)", (mission_key,)).lastrowid or 0)

    @staticmethod
    def _insert(db: sqlite3.Connection, mission: int, pairs: list[tuple[str, str]]) -> int:
        before = db.total_changes
        now = time.time()
        db.executemany(_INSERT, [(mission, event_id, text, now) for event_id, text in pairs])
        return db.total_changes - before

    @staticmethod
    def _park(db: sqlite3.Connection, mission: int, rows: list[Parked]) -> None:
        if rows:
            now = _now_text()
            db.executemany(_PARK, [(mission, r.ref, r.text, r.reason, now) for r in rows])

    def _resume(self, db: sqlite3.Connection, mission_key: str, path_key: str, st: os.stat_result,
                fd: int) -> tuple[int, Any, tuple[int, ...] | None] | None:
        """Where to resume this log, the running hash of the bytes before it, and the checkpoint as stored
        (stat, offset, settled; None when there is none): the checkpoint's offset once the log's prefix
        hashes as the checkpointed one did (whatever its inode: git reuses them), else 0 and a fresh
        hash. None when the checkpoint proves the file unwritten since a scan read every byte of it
        (``logproof.Seen.same_file``): nothing to read."""
        found = db.execute(
            "SELECT c.dev, c.ino, c.size, c.mtime_ns, c.ctime_ns, c.settled, c.offset, c.digest FROM checkpoints c "
            "JOIN missions m ON m.id = c.mission WHERE m.key = ? AND c.path = ?",
            (mission_key, path_key),
        ).fetchone()
        if found:
            dev, ino, size, mtime_ns, ctime_ns, settled, offset, digest = found
            if logproof.Seen(dev, ino, size, mtime_ns, ctime_ns, bool(settled)).same_file(st):
                return None
            if st.st_size >= offset:
                running = logproof.prove(fd, int(offset), bytes(digest))
                if running is not None:
                    return int(offset), running, (dev, ino, size, mtime_ns, ctime_ns, offset, settled)
        return 0, logproof.new_hash(), None

    @staticmethod
    def _store_checkpoint(db: sqlite3.Connection, mission: int, path_key: str, seen: logproof.Seen, offset: int,
                          digest: bytes, whole: bool) -> None:
        """Advance the checkpoint: ``digest`` is the SHA-256 of the log's ``[0, offset)``, ``seen`` its stat
        before the scan read it, ``whole`` whether the scan read all of that (only then may a later scan
        skip the file unread). A concurrent scan that got further on the same file is never undone."""
        found = db.execute(
            "SELECT dev, ino, size, offset FROM checkpoints WHERE mission = ? AND path = ?", (mission, path_key)
        ).fetchone()
        if found and (found[0], found[1], found[2]) == (seen.dev, seen.ino, seen.size) and found[3] > offset:
            return
        db.execute(
            "INSERT OR REPLACE INTO checkpoints (mission, path, dev, ino, size, mtime_ns, ctime_ns, settled, offset, "
            "digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (mission, path_key, seen.dev, seen.ino, seen.size, seen.mtime_ns, seen.ctime_ns,
             int(whole and seen.settled), offset, digest),
        )


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE``: take the write lock up front, so concurrent writers wait (busy timeout)
    instead of deadlocking on a read-to-write upgrade."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        # sqlite may already have rolled back (a full disk, an I/O error): then ROLLBACK fails with
        # "no transaction is active", which must not replace the real error being raised
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
