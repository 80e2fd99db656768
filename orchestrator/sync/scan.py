"""The checkpointed scan of a mission log into the queue: only what was appended is parsed, verbatim.

A checkpoint per log (byte offset, and the SHA-256 of every byte before it, hashed as the scan read
them) lets a scan parse only what was appended, once the prefix of the log as it is now hashes the same
(``orchestrator.missions.logproof``: a log's identity is its content, never its inode, which git
reuses); the row text is kept exactly as the log holds it, so the upload is byte-identical to the log.
Rows and checkpoint commit together, step by step, so a crash leaves a scan that resumes there.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.missions import logproof
from orchestrator.sync import rows as row_parser
from orchestrator.sync.store import QueueError, Store, guarded, insert_parked, insert_pending, transaction

SCAN_CHUNK = 1024 * 1024  # bytes read (and committed) per step of a log scan: bounds memory (parsed rows ~5x)

# ``fold(seen, start, end, rows, before, after)``: the rows of ``[start, end)`` of the log ``seen``
# describes (its stat before the scan read it), with the SHA-256 of the log's bytes ``[0, start)`` and
# ``[0, end)`` as the scan read them (see ``LogScanner.scan_log``)
ScanFold = Callable[[logproof.Seen, int, int, list[dict[str, Any]], bytes, bytes], None]


class ScanStep(NamedTuple):
    """One committed step of a log scan: rows it queued, and bytes of the log read so far and in all."""

    added: int
    done: int  # bytes of this scan committed, from where it resumed
    size: int  # bytes this scan reads in all (rows appended meanwhile wait for the next scan)


class LogScanner:
    """Scans mission logs into the queue ``store`` holds (their checkpoints live in its ``checkpoints``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @guarded
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
        return sum(step.added for step in self.steps(mission_key, log_path, fold))

    def steps(self, mission_key: str, log_path: Path, fold: ScanFold | None = None,
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
                    raise self.store.failure(exc) from None
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
            db = self.store.require()
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
                if remaining <= 0 and cut < len(data) and row_parser.complete_object(data[cut:]):
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
                pairs, parked = row_parser.parse_lines(data[:cut], start, rows)
                whole = remaining <= 0
                with transaction(db):
                    mission = Store.mission_id(db, mission_key)
                    insert_parked(db, mission, parked)
                    added = insert_pending(db, mission, pairs) if pairs else 0
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
                with transaction(db):
                    self._store_checkpoint(db, Store.mission_id(db, mission_key), path_key, seen, start, before,
                                           True)

    @guarded
    def scanned_offset(self, mission_key: str, log_path: Path) -> int:
        """How far the log has been scanned into the queue (rows beyond are not uploaded yet)."""
        db = self.store.connect(create=False)
        if db is None:
            return 0
        found = db.execute(
            "SELECT c.offset FROM checkpoints c JOIN missions m ON m.id = c.mission WHERE m.key = ? AND c.path = ?",
            (mission_key, os.path.abspath(log_path))).fetchone()
        return int(found[0]) if found else 0

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

