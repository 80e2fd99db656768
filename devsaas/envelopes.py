"""Storage of what sync sends: batch envelopes, dossier artifact bodies, and the projects refused.

``POST /api/v1/events/batch/`` brings envelopes, ``POST /api/dossier/push-content/`` the text of the
mission artifacts those envelopes index (the reference client's ``sync now`` sends both).

Every envelope is kept once per ``event_id``, whatever its ``event_type`` (the reference client sends
many: ``WPStatusChanged``, ``MissionCreated``, ``BuildRegistered`` ...), as the exact text it arrived
in, so a test can compare what the client sent with what the server holds byte for byte. A refused
project (an admin's doing) makes every envelope of that ``project_uuid`` answer ``rejected`` with the
category the admin chose, and none of them is stored.

The tables live in the same sqlite file as the rest of the dev SaaS; ``Store`` creates them and hands
this class its connection and its transaction, so a batch is one transaction like every other write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    seq          INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL UNIQUE,
    event_type   TEXT NOT NULL,
    project_uuid TEXT,
    aggregate_id TEXT,
    login        TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS envelopes_by_project ON envelopes (project_uuid, seq);
CREATE TABLE IF NOT EXISTS dossier_bodies (
    seq           INTEGER PRIMARY KEY,
    project_uuid  TEXT NOT NULL,
    mission_slug  TEXT NOT NULL,
    artifact_path TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    body          TEXT NOT NULL,
    received_at   REAL NOT NULL,
    UNIQUE (project_uuid, mission_slug, artifact_path, content_hash)
);
CREATE TABLE IF NOT EXISTS refused_projects (
    project_uuid   TEXT PRIMARY KEY,
    error_category TEXT NOT NULL,
    created_at     REAL NOT NULL
);
"""

# sqlite's default cap on bound parameters is 32766; a batch holds at most 1000 ids, so one chunk.
_CHUNK = 900


@dataclass(frozen=True, slots=True)
class Envelope:
    """One envelope that passed validation: the columns the admin view filters on, and its exact text."""

    event_id: str
    event_type: str
    project_uuid: str | None
    aggregate_id: str | None
    body: str


class Envelopes:
    """The envelope and refusal tables, over the store's connection and transaction."""

    def __init__(self, db: sqlite3.Connection, tx: Callable[[], AbstractContextManager[sqlite3.Connection]]) -> None:
        self._db = db
        self._tx = tx

    def store(self, envelopes: Sequence[Envelope], login: str, now: float) -> list[bool]:
        """Store each envelope unless its ``event_id`` is already held; True per envelope stored now.

        False means ``duplicate``: stored by an earlier request, or earlier in this same one. The
        read of known ids and the inserts share one BEGIN IMMEDIATE transaction, so two concurrent
        batches cannot both call the same event new.
        """
        with self._tx() as db:
            ids = [e.event_id for e in envelopes]
            known: set[str] = set()
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                known.update(row[0] for row in db.execute(
                    f"SELECT event_id FROM envelopes WHERE event_id IN ({marks})", chunk))
            fresh: list[bool] = []
            rows = []
            for e in envelopes:
                new = e.event_id not in known
                fresh.append(new)
                if new:
                    known.add(e.event_id)
                    rows.append((e.event_id, e.event_type, e.project_uuid, e.aggregate_id, login, e.body, now))
            db.executemany(
                "INSERT INTO envelopes (event_id, event_type, project_uuid, aggregate_id, login, body, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return fresh

    def bodies(self, *, project_uuid: str | None = None, event_type: str | None = None,
               aggregate_id: str | None = None) -> list[str]:
        """Envelope texts in arrival order, narrowed by whichever filters are given."""
        where, args = [], []
        for column, value in (("project_uuid", project_uuid), ("event_type", event_type),
                              ("aggregate_id", aggregate_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT body FROM envelopes" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return [body for (body,) in self._db.execute(sql, args)]

    def count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM envelopes").fetchone()
        return int(n)

    def body_count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM dossier_bodies").fetchone()
        return int(n)

    def store_body(self, project_uuid: str, mission_slug: str, artifact_path: str, content_hash: str, body: str,
                   now: float) -> bool:
        """Keep one artifact body (the request text as received); False when this very content is held."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO dossier_bodies (project_uuid, mission_slug, artifact_path, content_hash,"
                " body, received_at) VALUES (?, ?, ?, ?, ?, ?)",
                (project_uuid, mission_slug, artifact_path, content_hash, body, now),
            )
            return cur.rowcount == 1

    def dossier_bodies(self, project_uuid: str | None = None) -> list[str]:
        """Artifact-body requests as received, in arrival order."""
        if project_uuid is None:
            return [b for (b,) in self._db.execute("SELECT body FROM dossier_bodies ORDER BY seq")]
        return [b for (b,) in self._db.execute(
            "SELECT body FROM dossier_bodies WHERE project_uuid = ? ORDER BY seq", (project_uuid,))]

    def refuse(self, project_uuid: str, error_category: str, now: float) -> None:
        """From now on every envelope of ``project_uuid`` answers ``rejected`` with ``error_category``."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO refused_projects (project_uuid, error_category, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (project_uuid) DO UPDATE SET error_category = excluded.error_category",
                (project_uuid, error_category, now),
            )

    def admit(self, project_uuid: str) -> None:
        """Undo ``refuse``: the project's envelopes are stored again."""
        with self._tx() as db:
            db.execute("DELETE FROM refused_projects WHERE project_uuid = ?", (project_uuid,))

    def refusals(self, project_uuids: Iterable[str]) -> dict[str, str]:
        """``project_uuid -> error_category`` for those of ``project_uuids`` that are refused."""
        wanted = sorted(set(project_uuids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(
                f"SELECT project_uuid, error_category FROM refused_projects WHERE project_uuid IN ({marks})", chunk))
        return found
