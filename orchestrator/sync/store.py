"""The queue file itself: one sqlite database, its schema and migration, transactions and compaction.

Every table of ``~/.spec-kitty/sync-queue.sqlite3`` is created here, and a queue an older version wrote is
migrated here, once, on open. Every part of the queue shares one :class:`Store`'s connection: the rows
waiting (``orchestrator.sync.queue``), how syncs went (``history``), the log scan's checkpoints
(``scan``), the dead letters (``deadletters``) and the tracker's bookkeeping
(``orchestrator.tracker.ledger``). Design points:

- *Several processes*: WAL (readers never block the writer), a busy timeout, and ``BEGIN IMMEDIATE``
  (:func:`transaction`) for every write so two writers queue up instead of failing on a lock upgrade.
- *Durability*: ``synchronous=NORMAL`` under WAL survives any process crash; a power cut may forget the
  last commits, which only means re-sending (acks) or re-scanning (rows and checkpoint roll back together).
- *Refused when not the operator's*: the folder and the file must be theirs and not symlinks.

Standard library only, and never creates the file on a read: ``wp move`` and ``tracker status`` load it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from orchestrator.errors import SpecKittyError

if TYPE_CHECKING:
    from orchestrator.sync.rows import Parked

F = TypeVar("F", bound=Callable[..., Any])

SCHEMA_VERSION = 4  # 2 added the dead-letter (parked), conflicts and synced_lanes tables; 3: content-proven
# checkpoints (a version 2 checkpoint, trusted by inode and last bytes, is dropped: one full rescan)
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's transaction (a big scan holds one briefly)
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


def insert_pending(db: sqlite3.Connection, mission: int, pairs: list[tuple[str, str]]) -> int:
    """Queue ``(event_id, text)`` pairs inside the caller's transaction; returns how many were new. A row
    already queued, acked or parked is skipped: this one statement is what makes every path idempotent."""
    before = db.total_changes
    now = time.time()
    db.executemany(_INSERT, [(mission, event_id, text, now) for event_id, text in pairs])
    return db.total_changes - before


def insert_parked(db: sqlite3.Connection, mission: int, rows: list[Parked]) -> None:
    """Park rows with their reason inside the caller's transaction (a row parked already stays as it was)."""
    if rows:
        now = now_text()
        db.executemany(_PARK, [(mission, r.ref, r.text, r.reason, now) for r in rows])


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


def guarded(method: F) -> F:
    """Turn sqlite and OS errors of a queue call into one :class:`QueueError` naming the file: for a
    method of a :class:`Store`, or of a part of the queue that keeps its store in ``.store``."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except QueueError:
            raise
        except (sqlite3.Error, OSError) as exc:
            store: Store = self if isinstance(self, Store) else self.store
            raise store.failure(exc) from None

    return wrapper  # type: ignore[return-value]


def now_text() -> str:
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


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
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


class Store:
    """The queue file, opened lazily: constructing one (or reading from a missing file) creates nothing."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def failure(self, exc: sqlite3.Error | OSError) -> BaseException:
        """What a sqlite or OS error of a queue method becomes (see ``guarded``): a vanished log is
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
    def connect(self, *, create: bool) -> sqlite3.Connection | None:
        """The open connection; ``None`` for a read when the file does not exist yet (the schema is
        created, or an older queue migrated, on the first open).

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
                with transaction(db):  # idempotent, and skipped on every later open: no write lock per open
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

    @guarded
    def compact(self) -> None:
        """Give the pages of drained rows back to the file system once they are most of the file.

        A drained queue's only live data are the acked ids (bounded by ``ACKED_KEEP``) and a few small
        tables, but sqlite keeps a file at its high-water mark: after a 1M-row sync that was ~800 MB of
        free pages. ``VACUUM`` copies only the live pages (a few MiB, milliseconds), so it runs when at
        least a quarter of the file is free. (``PRAGMA incremental_vacuum`` frees one page per step
        through Python's sqlite3, which makes it no cheaper.) A sync that scans while it drains reuses
        freed pages and leaves few, but its ``-wal`` file (up to ``WAL_KEEP``) was then most of the
        queue's bytes: a ``-wal`` over ``WAL_IDLE`` is checkpointed and truncated too."""
        db = self.connect(create=False)
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

    # --- lifecycle ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- shared by every part of the queue -----------------------------------------------------------
    def require(self) -> sqlite3.Connection:
        """The connection, creating the file (a write)."""
        db = self.connect(create=True)
        assert db is not None
        return db

    def read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """The rows a query finds; none when the queue file does not exist (a read never creates it)."""
        db = self.connect(create=False)
        return [] if db is None else db.execute(sql, params).fetchall()

    @guarded
    def mission_field(self, mission_key: str, column: str) -> Any:
        """A column of the mission's row in ``missions`` (None when the mission or the file is unknown)."""
        db = self.connect(create=False)
        if db is None:
            return None
        found = db.execute(f"SELECT {column} FROM missions WHERE key = ?", (mission_key,)).fetchone()
        return found[0] if found else None

    @staticmethod
    def mission_id(db: sqlite3.Connection, mission_key: str) -> int:
        """The mission's row id (created on first write), so big tables hold an integer, not the key."""
        found = db.execute("SELECT id FROM missions WHERE key = ?", (mission_key,)).fetchone()
        if found:
            return int(found[0])
        return int(db.execute("INSERT INTO missions (key) VALUES (?)", (mission_key,)).lastrowid or 0)
