"""The durable event queue: mission log rows wait here until the SaaS has acknowledged them.

One sqlite file (``~/.spec-kitty/sync-queue.sqlite3``) shared by every CLI run and the background
daemon. Design points, each answering a way such queues lose or double events:

- *Nothing leaves before the server said so*: a row moves from ``pending`` to ``acked`` only in
  :meth:`EventQueue.ack`, called with the ids the server listed. A crash at any point leaves each row
  either still pending (re-sent; the server dedups by ``event_id``) or acked, never both, never neither.
- *Idempotent by event id*: ``(mission, event_id)`` is unique in ``pending`` and remembered in ``acked``,
  so re-scanning a log, a ``wp move`` queueing the row it just wrote, and a daemon and a CLI racing on
  the same log all queue each row at most once.
- *Incremental, verbatim scans*: a checkpoint (byte offset, file identity, size and the bytes just
  before the offset) per log lets a scan read only what was appended; the row text is kept exactly as
  the log holds it, so the upload is byte-identical to the log. Rows and checkpoint commit together.
- *Several processes*: WAL (readers never block the writer), a busy timeout, and ``BEGIN IMMEDIATE``
  for every write so two writers queue up instead of failing on a lock upgrade.
- *Durability*: ``synchronous=NORMAL`` under WAL survives any process crash; a power cut may forget the
  last commits, which only means re-sending (acks) or re-scanning (rows and checkpoint roll back together).

Imported on local paths too (``wp move`` queues its row, ``tracker status`` counts), so it uses only the
standard library's cheap modules and never creates the file on a read.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's transaction (a big scan holds one briefly)
SCAN_CHUNK = 4 * 1024 * 1024  # bytes read (and committed) per step of a log scan: bounds memory on huge logs
TAIL_BYTES = 1024  # bytes before the checkpoint remembered to notice a log rewritten in place (covers
# the last row or two, event ids included: rows differ mostly there)

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
    offset INTEGER NOT NULL,
    tail BLOB NOT NULL,
    PRIMARY KEY (mission, path)
) WITHOUT ROWID;
"""

_INSERT = (
    "INSERT OR IGNORE INTO pending (mission, event_id, row) SELECT ?1, ?2, ?3 "
    "WHERE NOT EXISTS (SELECT 1 FROM acked WHERE mission = ?1 AND event_id = ?2)"
)


def mission_key(server_url: str, project: str, mission: str) -> str:
    """The queue's name for a mission on a host: the same mission bound on two hosts queues twice.

    Project keys and mission slugs cannot contain ``|``, so the key splits back unambiguously.
    """
    return f"{server_url.strip().rstrip('/')}|{project}|{mission}"


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


def _parse_lines(chunk: bytes) -> list[tuple[str, str]]:
    """``(event_id, verbatim text)`` for each usable complete line; malformed ones are skipped (the
    local ``status`` command reports them, the queue just must not choke on them)."""
    found = []
    for raw in chunk.split(b"\n"):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            event_id = _event_id(json.loads(text))
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError; a line nested too deep
            continue
        if event_id is not None:
            found.append((event_id, text))
    return found


class EventQueue:
    """The queue file, opened lazily: constructing one (or reading from a missing file) creates nothing."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"EventQueue({str(self.path)!r})"

    # --- connection -----------------------------------------------------------------------------
    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        """The open connection; ``None`` for a read when the file does not exist yet."""
        if self._db is not None:
            return self._db
        if not self.path.exists():
            if not create:
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Born 0600 (sqlite gives its -wal and -shm files the database's mode); O_CREAT without
            # O_EXCL so a concurrent creator is harmless: an empty file is a valid new database.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        # check_same_thread=False: the drain hands ack/read work to a worker thread while a batch is on
        # the wire; calls never overlap (each is awaited before the next), which is all sqlite3 needs.
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA page_size=8192")  # only takes effect on a new file; rows are ~0.5-5 KiB
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                with _transaction(db):  # idempotent, and skipped on every later open: no write lock per open
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
    def enqueue(self, mission_key: str, rows: Iterable[dict[str, Any]]) -> int:
        """Queue rows (dicts) for upload; returns how many were new (queued or acked ones are skipped)."""
        pairs = [(eid, event_row_text(row)) for row in rows if (eid := _event_id(row)) is not None]
        if not pairs:
            return 0
        db = self._require()
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            return self._insert(db, mission, pairs)

    def scan_log(self, mission_key: str, log_path: Path) -> int:
        """Queue the log's rows this queue has not seen yet; returns how many were new.

        Reads from the checkpoint when the file is the one checkpointed (same device and inode, not
        shorter, the bytes before the offset unchanged), else from the start: a shrunk, replaced or
        rewritten log is rescanned whole, and idempotency skips what was already queued or acked. Only
        complete lines count: a torn last line is read again once its newline arrives.
        """
        try:
            handle = open(log_path, "rb")  # noqa: SIM115 - closed below, after the last chunk
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return 0
        path_key = os.path.abspath(log_path)
        db = self._require()
        added = 0
        with handle:
            fd = handle.fileno()
            st = os.fstat(fd)
            offset = self._resume_offset(db, mission_key, path_key, st, fd)
            if offset == st.st_size:
                return 0
            handle.seek(offset)
            remaining = st.st_size - offset  # rows appended during the scan wait for the next scan
            start, carry = offset, b""  # ``carry`` (an incomplete line) begins at file offset ``start``
            while remaining > 0:
                block = handle.read(min(SCAN_CHUNK, remaining))
                if not block:
                    break
                remaining -= len(block)
                data = carry + block
                cut = data.rfind(b"\n") + 1
                carry = data[cut:]
                if cut == 0:
                    continue
                end = start + cut
                tail = os.pread(fd, min(TAIL_BYTES, end), end - min(TAIL_BYTES, end))
                pairs = _parse_lines(data[:cut])
                with _transaction(db):
                    mission = self._mission_id(db, mission_key)
                    added += self._insert(db, mission, pairs) if pairs else 0
                    self._store_checkpoint(db, mission, path_key, st, end, tail)
                start = end
        return added

    def ack(self, mission_key: str, event_ids: Iterable[str]) -> None:
        """The server has these: forget them as pending and remember them as acked, atomically."""
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return
        db = self._require()
        with _transaction(db):
            mission = self._mission_id(db, mission_key)
            pairs = [(mission, event_id) for event_id in ids]
            db.executemany("INSERT OR IGNORE INTO acked (mission, event_id) VALUES (?, ?)", pairs)
            db.executemany("DELETE FROM pending WHERE mission = ? AND event_id = ?", pairs)

    def set_cursor(self, mission_key: str, cursor: int | None) -> None:
        """Remember the tracker change-log position the server last returned."""
        db = self._require()
        with _transaction(db):
            db.execute("UPDATE missions SET cursor = ? WHERE id = ?", (cursor, self._mission_id(db, mission_key)))

    def record_result(self, mission_key: str, result: dict[str, Any]) -> None:
        """Keep the outcome of the last sync for ``tracker status`` and the daemon (``time`` added if absent)."""
        stored = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result}
        db = self._require()
        with _transaction(db):
            db.execute(
                "UPDATE missions SET last_result = ? WHERE id = ?",
                (json.dumps(stored, sort_keys=True), self._mission_id(db, mission_key)),
            )

    # --- reading (never creates the file) -------------------------------------------------------------
    def pending(self, mission_key: str, limit: int) -> list[tuple[str, str]]:
        """The oldest ``limit`` queued rows as ``(event_id, row JSON text)``, in queueing order."""
        db = self._connect(create=False)
        if db is None:
            return []
        rows = db.execute(
            "SELECT p.event_id, p.row FROM pending p JOIN missions m ON m.id = p.mission "
            "WHERE m.key = ? ORDER BY p.seq LIMIT ?",
            (mission_key, limit),
        ).fetchall()
        return [(str(event_id), str(text)) for event_id, text in rows]

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
        found = self._mission_field(mission_key, "last_result")
        if found is None:
            return None
        with contextlib.suppress(ValueError):
            result = json.loads(found)
            if isinstance(result, dict):
                return result
        return None

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
        db.executemany(_INSERT, [(mission, event_id, text) for event_id, text in pairs])
        return db.total_changes - before

    def _resume_offset(self, db: sqlite3.Connection, mission_key: str, path_key: str, st: os.stat_result,
                       fd: int) -> int:
        """Where the last scan of this very file stopped, or 0 when the file is not that file any more."""
        found = db.execute(
            "SELECT c.dev, c.ino, c.size, c.offset, c.tail FROM checkpoints c JOIN missions m ON m.id = c.mission "
            "WHERE m.key = ? AND c.path = ?",
            (mission_key, path_key),
        ).fetchone()
        if not found:
            return 0
        dev, ino, size, offset, tail = found
        if (dev, ino) != (st.st_dev, st.st_ino) or st.st_size < size or st.st_size < offset:
            return 0
        if os.pread(fd, len(tail), offset - len(tail)) != bytes(tail):
            return 0  # same inode, but rewritten in place (an editor, a `git checkout` without rename)
        return int(offset)

    @staticmethod
    def _store_checkpoint(db: sqlite3.Connection, mission: int, path_key: str, st: os.stat_result, offset: int,
                          tail: bytes) -> None:
        """Advance the checkpoint; a concurrent scan that got further on the same file is never undone."""
        found = db.execute(
            "SELECT dev, ino, offset FROM checkpoints WHERE mission = ? AND path = ?", (mission, path_key)
        ).fetchone()
        if found and (found[0], found[1]) == (st.st_dev, st.st_ino) and found[2] > offset:
            return
        db.execute(
            "INSERT OR REPLACE INTO checkpoints (mission, path, dev, ino, size, offset, tail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (mission, path_key, st.st_dev, st.st_ino, max(st.st_size, offset), offset, tail),
        )


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE``: take the write lock up front, so concurrent writers wait (busy timeout)
    instead of deadlocking on a read-to-write upgrade."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
