"""The dev SaaS's own issue tracker, fronted under a SaaS-backed provider name (``/api/v1/tracker/``).

The hosted SaaS fronts real trackers (github, gitlab, jira, linear) and binds a *project* (a
repository, known by its ``project_uuid``) to one resource of one of them. This server fronts one
built-in tracker under ``PROVIDER`` with resources to bind (one by default; an admin may add more):
each work package of each mission is an issue whose status is a lane. Issues live under the
binding (one per project and resource), so projects sharing the server never see each other's.

Every issue change is a row of ``tracker_changes`` with an origin: ``client`` (a push, or a run
mirroring the lanes the project's envelopes carry) or ``remote`` (the tracker side: the admin
endpoints). A pull answers, per work package, its latest change when that change is newer than the
cursor and came from the tracker side: a client's own pushes never come back to it.

The tables live in the same sqlite file as the rest of the dev SaaS; ``Store`` creates them and
hands this class its connection and transaction, like ``Envelopes``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

PROVIDER = "github"  # one of the reference client's SAAS_PROVIDERS (specify_cli/tracker/config.py)
DEFAULT_RESOURCE = "dev-saas/issues"

SCHEMA = """
CREATE TABLE IF NOT EXISTS tracker_resources (
    resource_id   TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    display_label TEXT NOT NULL,
    created_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tracker_bindings (
    binding_ref  TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    resource_id  TEXT NOT NULL REFERENCES tracker_resources(resource_id),
    project_uuid TEXT NOT NULL,
    project_slug TEXT NOT NULL,
    team         TEXT NOT NULL,
    bound_at     REAL NOT NULL,
    last_sync_at REAL
);
CREATE TABLE IF NOT EXISTS tracker_issues (
    binding_ref   TEXT NOT NULL,
    mission       TEXT NOT NULL,
    wp_id         TEXT NOT NULL,
    lane          TEXT NOT NULL,
    last_event_id TEXT,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (binding_ref, mission, wp_id)
);
CREATE TABLE IF NOT EXISTS tracker_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    binding_ref TEXT NOT NULL,
    mission     TEXT NOT NULL,
    wp_id       TEXT NOT NULL,
    lane        TEXT NOT NULL,
    origin      TEXT NOT NULL CHECK (origin IN ('client', 'remote')),
    changed_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tracker_changes_by_binding ON tracker_changes (binding_ref, mission, wp_id, seq);
CREATE TABLE IF NOT EXISTS tracker_replies (
    team            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    path            TEXT NOT NULL,
    status          INTEGER NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (team, idempotency_key, path)
);
CREATE TABLE IF NOT EXISTS tracker_operations (
    operation_id TEXT PRIMARY KEY,
    team         TEXT NOT NULL,
    polls_left   INTEGER NOT NULL,
    result       TEXT NOT NULL,
    created_at   REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Resource:
    resource_id: str
    provider: str
    display_label: str


@dataclass(frozen=True, slots=True)
class TrackerBinding:
    binding_ref: str
    provider: str
    resource_id: str
    display_label: str
    project_uuid: str
    project_slug: str
    team: str
    bound_at: float
    last_sync_at: float | None


@dataclass(frozen=True, slots=True)
class IssueChange:
    mission: str
    wp_id: str
    lane: str
    changed_at: float
    seq: int


def candidate_token(resource_id: str) -> str:
    """Opaque to clients; this server reads the resource back out of it (``resource_for_token``)."""
    return "ct_" + resource_id.encode().hex()


def resource_for_token(token: str) -> str | None:
    if not token.startswith("ct_"):
        return None
    try:
        return bytes.fromhex(token[3:]).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def binding_ref_for(project_uuid: str, resource_id: str) -> str:
    """Stable per project and resource: binding the same project to the same resource again is a no-op."""
    return "br_" + hashlib.sha256(f"{project_uuid}\x1f{resource_id}".encode()).hexdigest()[:20]


class Tracker:
    """The tracker tables behind one connection (the ``Store``'s) and its transactions."""

    def __init__(self, db: sqlite3.Connection, tx: Callable[[], AbstractContextManager[sqlite3.Connection]],
                 now: float) -> None:
        self._db = db
        self._tx = tx
        with tx() as write:
            write.execute("INSERT OR IGNORE INTO tracker_resources (resource_id, provider, display_label, created_at)"
                          " VALUES (?, ?, ?, ?)", (DEFAULT_RESOURCE, PROVIDER, DEFAULT_RESOURCE, now))

    # -- resources and bindings -------------------------------------------------------------------
    def add_resource(self, display_label: str, now: float) -> Resource:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO tracker_resources (resource_id, provider, display_label, created_at)"
                       " VALUES (?, ?, ?, ?)", (display_label, PROVIDER, display_label, now))
        return Resource(display_label, PROVIDER, display_label)

    def resources(self, provider: str) -> list[Resource]:
        return [Resource(*row) for row in self._db.execute(
            "SELECT resource_id, provider, display_label FROM tracker_resources WHERE provider = ?"
            " ORDER BY created_at, resource_id", (provider,))]

    _BINDING_SQL = (
        "SELECT b.binding_ref, b.provider, b.resource_id, r.display_label, b.project_uuid, b.project_slug,"
        " b.team, b.bound_at, b.last_sync_at FROM tracker_bindings b JOIN tracker_resources r"
        " ON r.resource_id = b.resource_id"
    )

    def binding(self, binding_ref: str) -> TrackerBinding | None:
        row = self._db.execute(self._BINDING_SQL + " WHERE b.binding_ref = ?", (binding_ref,)).fetchone()
        return TrackerBinding(*row) if row else None

    def binding_for_project(self, provider: str, project_uuid: str) -> TrackerBinding | None:
        row = self._db.execute(self._BINDING_SQL + " WHERE b.provider = ? AND b.project_uuid = ?"
                               " ORDER BY b.bound_at DESC LIMIT 1", (provider, project_uuid)).fetchone()
        return TrackerBinding(*row) if row else None

    def binding_for_slug(self, provider: str, project_slug: str, team: str) -> TrackerBinding | None:
        row = self._db.execute(self._BINDING_SQL + " WHERE b.provider = ? AND b.project_slug = ? AND b.team = ?"
                               " ORDER BY b.bound_at DESC LIMIT 1", (provider, project_slug, team)).fetchone()
        return TrackerBinding(*row) if row else None

    def bindings_of(self, project: str) -> list[TrackerBinding]:
        """A project's bindings, by ``project_uuid`` or ``project_slug`` (the admin's way in), newest first."""
        return [TrackerBinding(*row) for row in self._db.execute(
            self._BINDING_SQL + " WHERE b.project_uuid = ? OR b.project_slug = ? OR b.binding_ref = ?"
            " ORDER BY b.bound_at DESC", (project, project, project))]

    def bind(self, provider: str, resource_id: str, project_uuid: str, project_slug: str, team: str,
             now: float) -> TrackerBinding:
        """Bind the project to the resource (replacing its binding to another resource of the provider)."""
        ref = binding_ref_for(project_uuid, resource_id)
        with self._tx() as db:
            db.execute("DELETE FROM tracker_bindings WHERE provider = ? AND project_uuid = ? AND binding_ref != ?",
                       (provider, project_uuid, ref))
            db.execute("INSERT INTO tracker_bindings (binding_ref, provider, resource_id, project_uuid, project_slug,"
                       " team, bound_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (binding_ref) DO UPDATE SET"
                       " project_slug = excluded.project_slug, team = excluded.team",
                       (ref, provider, resource_id, project_uuid, project_slug, team, now))
        found = self.binding(ref)
        assert found is not None
        return found

    def count(self) -> int:
        (bindings,) = self._db.execute("SELECT COUNT(*) FROM tracker_bindings").fetchone()
        return int(bindings)

    # -- issues ------------------------------------------------------------------------------------
    def _append(self, db: sqlite3.Connection, ref: str, mission: str, wp_id: str, lane: str, origin: str,
                now: float) -> int:
        cur = db.execute("INSERT INTO tracker_changes (binding_ref, mission, wp_id, lane, origin, changed_at)"
                         " VALUES (?, ?, ?, ?, ?, ?)", (ref, mission, wp_id, lane, origin, now))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def push(self, ref: str, mission: str, wp_id: str, lane: str, last_event_id: str | None, now: float) -> str:
        """One client change; ``succeeded`` or ``skipped`` (a re-push of what the issue already took from
        the same log row, which must never clobber a change made on the tracker side since)."""
        with self._tx() as db:
            row = db.execute("SELECT lane, last_event_id FROM tracker_issues WHERE binding_ref = ? AND mission = ?"
                             " AND wp_id = ?", (ref, mission, wp_id)).fetchone()
            if row is not None and (row[0] == lane or (last_event_id is not None and row[1] == last_event_id)):
                return "skipped"
            db.execute("INSERT INTO tracker_issues (binding_ref, mission, wp_id, lane, last_event_id, updated_at)"
                       " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (binding_ref, mission, wp_id) DO UPDATE SET"
                       " lane = excluded.lane, last_event_id = excluded.last_event_id,"
                       " updated_at = excluded.updated_at",
                       (ref, mission, wp_id, lane, last_event_id, now))
            self._append(db, ref, mission, wp_id, lane, "client", now)
            db.execute("UPDATE tracker_bindings SET last_sync_at = ? WHERE binding_ref = ?", (now, ref))
        return "succeeded"

    def set_lane(self, ref: str, mission: str, wp_id: str, lane: str, now: float) -> int:
        """A change made on the tracker side (origin ``remote``); the issue keeps its ``last_event_id``."""
        with self._tx() as db:
            db.execute("INSERT INTO tracker_issues (binding_ref, mission, wp_id, lane, last_event_id, updated_at)"
                       " VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (binding_ref, mission, wp_id) DO UPDATE SET"
                       " lane = excluded.lane, updated_at = excluded.updated_at", (ref, mission, wp_id, lane, now))
            return self._append(db, ref, mission, wp_id, lane, "remote", now)

    def pull(self, ref: str, cursor: int, limit: int, mission: str | None, now: float) -> tuple[list[IssueChange], int,
                                                                                                  bool]:
        """(changes, next cursor, has more): each work package's latest change when it is newer than
        ``cursor`` and came from the tracker side."""
        with self._tx() as db:
            where, args = ("AND mission = ?", [mission]) if mission else ("", [])
            rows = db.execute(
                "SELECT c.mission, c.wp_id, c.lane, c.changed_at, c.seq FROM tracker_changes c JOIN"
                f" (SELECT MAX(seq) AS seq FROM tracker_changes WHERE binding_ref = ? {where} GROUP BY mission, wp_id)"
                " latest ON c.seq = latest.seq WHERE c.seq > ? AND c.origin = 'remote' ORDER BY c.seq LIMIT ?",
                (ref, *args, cursor, limit + 1)).fetchall()
            (high,) = db.execute(f"SELECT COALESCE(MAX(seq), 0) FROM tracker_changes WHERE binding_ref = ? {where}",
                                 (ref, *args)).fetchone()
            db.execute("UPDATE tracker_bindings SET last_sync_at = ? WHERE binding_ref = ?", (now, ref))
        more = len(rows) > limit
        changes = [IssueChange(*row) for row in rows[:limit]]
        return changes, (changes[-1].seq if more else max(int(high), cursor)), more

    def issues(self, ref: str, mission: str | None = None) -> dict[str, dict[str, Any]]:
        where, args = ("AND mission = ?", [mission]) if mission else ("", [])
        found: dict[str, dict[str, Any]] = {}
        for mission_slug, wp_id, lane, last_event_id, updated_at in self._db.execute(
                "SELECT mission, wp_id, lane, last_event_id, updated_at FROM tracker_issues"
                f" WHERE binding_ref = ? {where} ORDER BY mission, wp_id", (ref, *args)):
            key = wp_id if mission else f"{mission_slug}/{wp_id}"
            found[key] = {"lane": lane, "last_event_id": last_event_id, "updated_at": updated_at}
        return found

    def issue_count(self, ref: str) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM tracker_issues WHERE binding_ref = ?", (ref,)).fetchone()
        return int(count)

    # -- idempotent replies and asynchronous operations ----------------------------------------------
    def reply(self, team: str, key: str, path: str) -> tuple[int, dict[str, Any]] | None:
        row = self._db.execute("SELECT status, body FROM tracker_replies WHERE team = ? AND idempotency_key = ?"
                               " AND path = ?", (team, key, path)).fetchone()
        return (int(row[0]), json.loads(row[1])) if row else None

    def remember(self, team: str, key: str, path: str, status: int, body: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO tracker_replies (team, idempotency_key, path, status, body)"
                       " VALUES (?, ?, ?, ?, ?)", (team, key, path, status, json.dumps(body)))

    def start_operation(self, operation_id: str, team: str, polls: int, result: dict[str, Any], now: float) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO tracker_operations (operation_id, team, polls_left, result, created_at)"
                       " VALUES (?, ?, ?, ?, ?)", (operation_id, team, polls, json.dumps(result), now))

    def poll_operation(self, operation_id: str, team: str) -> tuple[str, dict[str, Any]] | None:
        """(``running`` or ``completed``, result) for the team's operation; each poll brings it closer."""
        with self._tx() as db:
            row = db.execute("SELECT polls_left, result FROM tracker_operations WHERE operation_id = ? AND team = ?",
                             (operation_id, team)).fetchone()
            if row is None:
                return None
            if row[0] > 0:
                db.execute("UPDATE tracker_operations SET polls_left = polls_left - 1 WHERE operation_id = ?",
                           (operation_id,))
                return "running", {}
        return "completed", json.loads(row[1])
