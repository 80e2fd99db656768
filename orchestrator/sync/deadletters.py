"""Dead letters: rows that cannot be uploaded as they are, kept with why until ``sync retry`` or ``sync drop``.

A row is parked when the scan finds it unusable (not JSON, no ``event_id``, too large, a ``wp_id`` the
SaaS refuses) or when the host refuses it for good; it never blocks the rows after it. A dropped row is
remembered without its text, so a later scan of the same log does not queue it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from orchestrator.sync.rows import Parked, classify
from orchestrator.sync.store import Store, guarded, insert_parked, insert_pending, transaction


class DeadLetters:
    """The ``parked`` table of the queue ``store`` holds."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @guarded
    def park(self, mission_key: str, rows: Iterable[Parked]) -> None:
        """Move rows out of the way with their reason (the server refused them, one by one)."""
        rows = list(rows)
        if not rows:
            return
        db = self.store.require()
        with transaction(db):
            mission = Store.mission_id(db, mission_key)
            db.executemany("DELETE FROM pending WHERE mission = ? AND event_id = ?", [(mission, r.ref) for r in rows])
            insert_parked(db, mission, rows)

    @guarded
    def parked(self, mission_key: str) -> list[Parked]:
        """The rows parked (not dropped) for a mission, oldest first."""
        found = self.store.read("SELECT p.ref, p.row, p.reason FROM parked p JOIN missions m ON m.id = p.mission "
                                "WHERE m.key = ? AND p.dropped = 0 ORDER BY p.seq", (mission_key,))
        return [Parked(str(ref), str(text), str(reason)) for ref, text, reason in found]

    @guarded
    def retry(self, mission_key: str, refs: list[str] | None) -> list[tuple[str, Parked | None]]:
        """Re-queue parked rows (all when ``refs`` is None): each comes back ``(ref, None)`` when queued
        again, ``(ref, Parked)`` when it still cannot go (malformed stays malformed), and a ref that is
        not parked comes back as ``(ref, Parked(ref, "", ""))`` with an empty reason."""
        db = self.store.require()
        outcomes: list[tuple[str, Parked | None]] = []
        with transaction(db):
            mission = Store.mission_id(db, mission_key)
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
                insert_pending(db, mission, [outcome])
                outcomes.append((ref, None))
        return outcomes

    @guarded
    def drop(self, mission_key: str, refs: list[str] | None) -> tuple[list[str], list[str]]:
        """Discard parked rows for good: ``(dropped, unknown)``. A dropped row is remembered (not its
        text), so a later scan of the same log does not queue it again."""
        db = self.store.require()
        with transaction(db):
            mission = Store.mission_id(db, mission_key)
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

    @guarded
    def not_held(self, mission_key: str) -> set[str]:
        """Event ids the server may not hold: still pending, parked or dropped (the pushed lanes skip
        them, so a ``last_event_id`` sent to the tracker is always one the server stores)."""
        db = self.store.connect(create=False)
        if db is None:
            return set()
        mission = db.execute("SELECT id FROM missions WHERE key = ?", (mission_key,)).fetchone()
        if mission is None:
            return set()
        ids = {str(r[0]) for r in db.execute("SELECT event_id FROM pending WHERE mission = ?", mission)}
        ids.update(str(r[0]) for r in db.execute("SELECT ref FROM parked WHERE mission = ?", mission))
        return ids
