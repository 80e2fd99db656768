"""The tracker's bookkeeping in the queue file: per work package the lane event last pushed (the base a
conflict is judged against), and the conflicts found, for ``sync status``.

Tables of the queue's one sqlite file (created and migrated by ``orchestrator.sync.store``): the tracker
room owns what it writes there, and reaches the file only through the store it is handed.
"""

from __future__ import annotations

from orchestrator.sync.store import Store, guarded, now_text, transaction

KEEP_CONFLICTS = 50  # per mission, newest kept: `sync status` lists them, they must not grow forever


class TrackerLedger:
    """The ``synced_lanes`` and ``conflicts`` tables of the queue ``store`` holds."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @guarded
    def synced_lanes(self, mission_key: str) -> dict[str, str]:
        """Per WP, the ``last_event_id`` the last successful tracker sync pushed (the conflict base)."""
        found = self.store.read("SELECT s.wp_id, s.last_event_id FROM synced_lanes s "
                                "JOIN missions m ON m.id = s.mission WHERE m.key = ?", (mission_key,))
        return {str(wp): str(eid) for wp, eid in found}

    @guarded
    def set_synced_lanes(self, mission_key: str, lanes: dict[str, str]) -> None:
        """Record what this sync pushed or applied, per WP: the next sync's conflict base."""
        db = self.store.require()
        with transaction(db):
            mission = Store.mission_id(db, mission_key)
            db.executemany("INSERT OR REPLACE INTO synced_lanes (mission, wp_id, last_event_id) VALUES (?, ?, ?)",
                           [(mission, wp, eid) for wp, eid in lanes.items()])

    @guarded
    def add_conflict(self, mission_key: str, wp_id: str, local_lane: str, remote_lane: str,
                     kept: str = "local") -> None:
        """Record a conflict and which side's lane was kept (``local``, or ``remote``: the tracker's)."""
        db = self.store.require()
        with transaction(db):
            mission = Store.mission_id(db, mission_key)
            db.execute("INSERT INTO conflicts (mission, wp_id, local_lane, remote_lane, at, kept)"
                       " VALUES (?, ?, ?, ?, ?, ?)", (mission, wp_id, local_lane, remote_lane, now_text(), kept))
            db.execute("DELETE FROM conflicts WHERE mission = ? AND seq NOT IN "
                       "(SELECT seq FROM conflicts WHERE mission = ? ORDER BY seq DESC LIMIT ?)",
                       (mission, mission, KEEP_CONFLICTS))

    @guarded
    def conflicts(self, mission_key: str) -> list[dict[str, str]]:
        """The conflicts recorded for the mission, oldest first, with the side whose lane was kept."""
        found = self.store.read("SELECT c.at, c.wp_id, c.local_lane, c.remote_lane, c.kept FROM conflicts c "
                                "JOIN missions m ON m.id = c.mission WHERE m.key = ? ORDER BY c.seq", (mission_key,))
        return [{"time": at, "wp_id": wp, "local_lane": lo, "remote_lane": re_, "kept": kept or "local"}
                for at, wp, lo, re_, kept in found]
