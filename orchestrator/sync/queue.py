"""The durable event queue: mission log rows wait here until the SaaS has acknowledged them.

One sqlite file (``~/.spec-kitty/sync-queue.sqlite3``, opened by ``orchestrator.sync.store``) shared by
every CLI run and the background daemon, keyed per mission on a host (``orchestrator.sync.mission_ref``).
Design points, each answering a way such queues lose or double events:

- *Nothing leaves before the server said so*: a row moves from ``pending`` to ``acked`` only in
  :meth:`EventQueue.ack`, called with the ids the server listed. A crash at any point leaves each row
  either still pending (re-sent; the server dedups by ``event_id``) or acked, never both, never neither.
- *Idempotent by event id*: ``(mission, event_id)`` is unique in ``pending`` and remembered in ``acked``,
  so re-scanning a log (``orchestrator.sync.scan``), a ``wp move`` queueing the row it just wrote, and a
  daemon and a CLI racing on the same log all queue each row at most once.
- *What went wrong stays visible*: rows that cannot go are parked (``orchestrator.sync.deadletters``),
  and every sync leaves its outcome on the mission's row (``orchestrator.sync.history``).

Imported on local paths too (``wp move`` queues its row, ``tracker status`` counts), so it uses only the
standard library's cheap modules and never creates the file on a read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orchestrator.sync.rows import Parked, classify, event_id_of, event_row_text
from orchestrator.sync.store import BUSY_TIMEOUT, Store, guarded, insert_parked, insert_pending, transaction

ACKED_KEEP = 200_000  # acked ids remembered per mission; older ones are pruned (the server dedups re-sends)


class EventQueue(Store):
    """The rows waiting per mission and the ids acknowledged (how syncing went: ``history``)."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        super().__init__(path, busy_timeout=busy_timeout)
        self._acked: dict[int, int] = {}  # mission -> acked ids it holds, as far as this process knows

    # --- writing ----------------------------------------------------------------------------------
    @guarded
    def enqueue(self, mission_key: str, rows: Iterable[dict[str, Any]]) -> int:
        """Queue rows (dicts) for upload; returns how many were new (queued or acked ones are skipped)."""
        pairs: list[tuple[str, str]] = []
        parked: list[Parked] = []
        for row in rows:
            event_id = event_id_of(row)
            if event_id is None:
                continue
            outcome = classify(event_row_text(row), event_id)
            if isinstance(outcome, Parked):
                parked.append(outcome)
            else:
                pairs.append(outcome)
        if not pairs and not parked:
            return 0
        db = self.require()
        with transaction(db):
            mission = self.mission_id(db, mission_key)
            insert_parked(db, mission, parked)
            return insert_pending(db, mission, pairs)


    @guarded
    def ack(self, mission_key: str, event_ids: Iterable[str]) -> None:
        """The server has these: forget them as pending and remember them as acked, atomically.

        Acked ids are kept only up to ``ACKED_KEEP`` per mission (ULIDs sort by time, the oldest go):
        they only save re-sending after a log is rescanned whole, and the server dedups a re-send."""
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return
        db = self.require()
        with transaction(db):
            mission = self.mission_id(db, mission_key)
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

    # --- reading (never creates the file) -------------------------------------------------------------
    @guarded
    def pending(self, mission_key: str, limit: int) -> list[tuple[str, str]]:
        """The oldest ``limit`` queued rows as ``(event_id, row JSON text)``, in queueing order."""
        return [(event_id, text) for _, event_id, text in self.pending_after(mission_key, limit, 0)]

    @guarded
    def pending_after(self, mission_key: str, limit: int, after: int) -> list[tuple[int, str, str]]:
        """``pending`` after queue position ``after``, each row with its position ``(seq, event_id,
        text)``: a drain reads the next batch while one is on the wire without reading that one again
        (a row queued later always gets a later position than every row still queued)."""
        rows = self.read("SELECT p.seq, p.event_id, p.row FROM pending p JOIN missions m ON m.id = p.mission "
                          "WHERE m.key = ? AND p.seq > ? ORDER BY p.seq LIMIT ?", (mission_key, after, limit))
        return [(int(seq), str(event_id), str(text)) for seq, event_id, text in rows]

    @guarded
    def oldest_queued_at(self, mission_key: str) -> float | None:
        """When the oldest row still waiting was queued (epoch seconds), or None when nothing waits."""
        db = self.connect(create=False)
        if db is None:
            return None
        found = db.execute(
            "SELECT MIN(p.queued_at), COUNT(*) FROM pending p JOIN missions m ON m.id = p.mission WHERE m.key = ?",
            (mission_key,)).fetchone()
        if not found or not found[1]:
            return None
        return float(found[0]) if found[0] is not None else None

    @guarded
    def mission_keys(self) -> list[str]:
        return [str(r[0]) for r in self.read("SELECT key FROM missions ORDER BY key", ())]

    @guarded
    def count(self, mission_key: str | None = None) -> int:
        """Rows still waiting for an ack (for one mission, or all)."""
        db = self.connect(create=False)
        if db is None:
            return 0
        if mission_key is None:
            return int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
        found = db.execute(
            "SELECT COUNT(*) FROM pending WHERE mission = (SELECT id FROM missions WHERE key = ?)", (mission_key,)
        ).fetchone()
        return int(found[0])

    @guarded
    def acked_count(self, mission_key: str) -> int:
        """How many ids this queue remembers as acknowledged (tests and diagnostics)."""
        db = self.connect(create=False)
        if db is None:
            return 0
        found = db.execute(
            "SELECT COUNT(*) FROM acked WHERE mission = (SELECT id FROM missions WHERE key = ?)", (mission_key,)
        ).fetchone()
        return int(found[0])

