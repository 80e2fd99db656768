"""How syncing a mission has gone: its last outcome (``tracker status``, the daemon), when it last worked
and the error that still stands (``sync status``), and the tracker cursor the last sync stored.

The mission's row of the queue file's ``missions`` table and its ``health`` row: a failure never hides
when sync last worked, and a later success clears the error it answered.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from orchestrator.sync.store import Store, guarded, now_text, transaction


class SyncHistory:
    """The outcome and cursor columns of ``missions`` and the ``health`` table of the queue ``store`` holds."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_cursor(self, mission_key: str) -> int | None:
        """The tracker change-log position the last tracker sync stored (None: pull from the start)."""
        found = self.store.mission_field(mission_key, "cursor")
        return int(found) if found is not None else None

    def last_result(self, mission_key: str) -> dict[str, Any] | None:
        """The last sync's outcome as ``record_result`` kept it (None when none, or unreadable)."""
        return self._decode(self.store.mission_field(mission_key, "last_result"))

    @staticmethod
    def _decode(found: Any) -> dict[str, Any] | None:
        if found is None:
            return None
        with contextlib.suppress(ValueError):
            result = json.loads(found)
            if isinstance(result, dict):
                return result
        return None

    @guarded
    def set_cursor(self, mission_key: str, cursor: int | None) -> None:
        """Remember the tracker change-log position the server last returned."""
        db = self.store.require()
        with transaction(db):
            db.execute("UPDATE missions SET cursor = ? WHERE id = ?", (cursor, Store.mission_id(db, mission_key)))

    @guarded
    def record_result(self, mission_key: str, result: dict[str, Any]) -> None:
        """Keep the outcome of the last sync for ``tracker status`` and the daemon (``time`` added if
        absent), and the last success and last error apart, for ``sync status``: a failure never hides
        when sync last worked, and a later success clears the error it answered."""
        stored = {"time": now_text(), **result}
        db = self.store.require()
        with transaction(db):
            mission = Store.mission_id(db, mission_key)
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

    @guarded
    def health(self, mission_key: str) -> tuple[str | None, dict[str, Any] | None]:
        """``(time of the last success, {"time", "error"} of the last failure)``, either None if never."""
        db = self.store.connect(create=False)
        if db is None:
            return None, None
        found = db.execute("SELECT h.last_success, h.last_error FROM health h JOIN missions m ON m.id = h.mission "
                           "WHERE m.key = ?", (mission_key,)).fetchone()
        if not found:
            return None, None
        return found[0], self._decode(found[1])
