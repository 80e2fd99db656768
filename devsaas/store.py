"""SQLite storage for the dev SaaS: one file, one connection, WAL.

The dev SaaS must survive `kill -9` with every acknowledged write intact (the client deletes queued
events once they are acked), so each mutating request is exactly one transaction and the database runs
in WAL mode. `synchronous=NORMAL` keeps commits cheap: in WAL mode a committed transaction survives a
process crash; only an OS crash could lose the last commits, which a dev server can accept.

Checkpoints (copying WAL pages into the main file, with fsyncs) are the slowest part of a write, so
they do not run on the request path: automatic checkpoints are off and a background thread with its own
connection runs PASSIVE checkpoints after commits. PASSIVE never blocks the writer, and a crash in the
middle of one is harmless (the WAL is still authoritative). That roughly halves the cost of an upload.

The store is synchronous on purpose. The server calls it from the event loop thread: each call is a
few milliseconds, sqlite serialises writers anyway, and there is no await between a read and the write
that depends on it, so handlers need no locking.

Only hashes of access tokens are stored, so the database file never holds a usable credential.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devsaas.envelopes import SCHEMA as ENVELOPE_SCHEMA
from devsaas.envelopes import Envelopes
from devsaas.trackerstore import SCHEMA as TRACKER_SCHEMA
from devsaas.trackerstore import Tracker

log = logging.getLogger("spec_kitty.devsaas")

# 2: the old per-mission upload's `events` table is dropped (batch envelopes, devsaas/envelopes.py, replaced it).
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    login       TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash  TEXT PRIMARY KEY,
    login       TEXT NOT NULL REFERENCES users(login),
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    revoked_at  REAL
);
CREATE TABLE IF NOT EXISTS grants (
    grant_id    TEXT PRIMARY KEY,
    login       TEXT NOT NULL REFERENCES users(login),
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants(grant_id),
    created_at  REAL NOT NULL,
    used_at     REAL
);
CREATE TABLE IF NOT EXISTS token_grants (
    token_hash  TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants(grant_id)
);
CREATE TABLE IF NOT EXISTS project_members (
    project     TEXT NOT NULL,
    login       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    created_at  REAL NOT NULL,
    PRIMARY KEY (project, login)
);
CREATE TABLE IF NOT EXISTS device_codes (
    device_code TEXT PRIMARY KEY,
    user_code   TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    login       TEXT
);
CREATE INDEX IF NOT EXISTS device_codes_by_user_code ON device_codes (user_code, created_at);
DROP TABLE IF EXISTS events;
"""

# RFC 8628 §6.1: no vowels (no words), no look-alike digits; 20^8 codes.
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"

TOKEN_PREFIX = "skd_"
REFRESH_PREFIX = "skr_"
SESSION_PREFIX = "ses_"
# A refresh token lives this long from its own issue (each rotation starts a new one): this server's
# choice; the hosted SaaS states its lifetime in each token answer, which is all a client may rely on.
REFRESH_TTL = 90 * 24 * 3600


def iso(ts: float) -> str:
    """ISO 8601 UTC with a `Z`, second precision: the one timestamp format the API emits."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def default_email(login: str) -> str:
    """A syntactically valid address under the reserved `.invalid` TLD, so nothing is ever mailed."""
    return f"{login}@dev-saas.spec-kitty.invalid"


@dataclass(frozen=True, slots=True)
class Principal:
    """The owner of an access token as the server saw it at lookup time; ``session_id`` is its grant."""

    login: str
    email: str
    expires_at: float
    revoked: bool
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceCode:
    device_code: str
    user_code: str
    created_at: float
    expires_at: float
    status: str
    login: str | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly minted pair; ``session_id`` names the grant that ``/oauth/revoke`` ends as a whole."""

    access_token: str
    login: str
    email: str
    expires_at: float
    refresh_token: str | None = None
    session_id: str = ""
    refresh_expires_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What one refresh-grant request came to: ``ok`` (with ``token``), ``replay`` or ``invalid_grant``."""

    outcome: str
    token: IssuedToken | None = None


class _Checkpointer:
    """Runs PASSIVE WAL checkpoints on its own thread and connection, at most every `pause` seconds."""

    def __init__(self, path: Path, pause: float = 0.25) -> None:
        self._path = path
        self._pause = pause
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dev-saas-checkpointer", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wanted.set()

    def close(self) -> None:
        self._stopping.set()
        self._wanted.set()
        self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None)
        try:
            while True:
                self._wanted.wait()
                if self._stopping.is_set():
                    return
                self._wanted.clear()
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the next commit pokes again; nothing is lost meanwhile
                    log.warning("WAL checkpoint failed: %s", exc)
                self._stopping.wait(self._pause)  # let a burst of uploads share one checkpoint
        finally:
            db.close()


class Store:
    """All dev SaaS state behind one sqlite connection (plus the checkpointer's)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Token hashes are not credentials, but the file is still nobody else's business:
        # create it 0600 up front instead of chmod-ing after sqlite made it world-readable.
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so a request is exactly one transaction.
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job, off the request path
        self._db.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
        self._checkpointer = _Checkpointer(self.path)
        try:
            with self._tx():
                # Not executescript(): it commits on its own, and the schema should land atomically.
                for statement in filter(str.strip, (_SCHEMA + ENVELOPE_SCHEMA + TRACKER_SCHEMA).split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self.close()
            raise
        self.envelopes = Envelopes(self._db, self._tx)
        try:
            self.tracker = Tracker(self._db, self._tx, time.time())
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the checkpointer, then fold the whole WAL into the main file so it is self-contained."""
        self._checkpointer.close()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE so a read-then-write sequence cannot be interleaved by another writer."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # sqlite may already have rolled back (e.g. disk full)
                self._db.execute("ROLLBACK")
            raise
        self._checkpointer.poke()

    # -- users and tokens -------------------------------------------------------------------------

    def _ensure_user(self, db: sqlite3.Connection, login: str, email: str | None, now: float) -> str:
        db.execute(
            "INSERT OR IGNORE INTO users (login, email, created_at) VALUES (?, ?, ?)",
            (login, email or default_email(login), now),
        )
        if email:
            db.execute("UPDATE users SET email = ? WHERE login = ?", (email, login))
        (stored_email,) = db.execute("SELECT email FROM users WHERE login = ?", (login,)).fetchone()
        return stored_email

    def _insert_token(
        self, db: sqlite3.Connection, login: str, email: str | None, expires_in: int, now: float,
        grant_id: str | None = None, refresh_ttl: int = REFRESH_TTL,
    ) -> IssuedToken:
        """An access token plus a refresh token, both in one grant (a new grant unless renewing one).

        The grant is what the protocol calls a session: its id is the ``session_id`` of the token answer,
        and revoking it ends every token it ever issued.
        """
        stored_email = self._ensure_user(db, login, email, now)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
        expires_at = now + expires_in
        if grant_id is None:
            grant_id = SESSION_PREFIX + secrets.token_hex(12)
            db.execute("INSERT INTO grants (grant_id, login, created_at) VALUES (?, ?, ?)", (grant_id, login, now))
        db.execute(
            "INSERT INTO tokens (token_hash, login, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (_hash_token(token), login, now, expires_at),
        )
        db.execute("INSERT INTO token_grants (token_hash, grant_id) VALUES (?, ?)", (_hash_token(token), grant_id))
        db.execute("INSERT INTO refresh_tokens (token_hash, grant_id, created_at) VALUES (?, ?, ?)",
                   (_hash_token(refresh), grant_id, now))
        return IssuedToken(token, login, stored_email, expires_at, refresh, grant_id, now + refresh_ttl)

    def refresh(self, refresh_token: str, now: float, token_ttl: int, *, grace: float = 0.0,
                refresh_ttl: int = REFRESH_TTL) -> Refreshed:
        """Trade an unused, unexpired refresh token of a live session for a new pair (rotation).

        A token already rotated less than ``grace`` seconds ago is a ``replay``: another process of the
        same client won the race and holds the new pair, so the caller is told to re-read its store
        rather than that its session is gone. Later, or for an unknown, expired or revoked token:
        ``invalid_grant``.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT r.grant_id, r.used_at, g.revoked_at, g.login, r.created_at FROM refresh_tokens r"
                " JOIN grants g ON g.grant_id = r.grant_id WHERE r.token_hash = ?",
                (_hash_token(refresh_token),),
            ).fetchone()
            if row is None or row[2] is not None or now >= row[4] + refresh_ttl:
                return Refreshed("invalid_grant")
            if row[1] is not None:
                return Refreshed("replay" if now - row[1] < grace else "invalid_grant")
            db.execute("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?", (now, _hash_token(refresh_token)))
            return Refreshed("ok", self._insert_token(db, row[3], None, token_ttl, now, grant_id=row[0],
                                                      refresh_ttl=refresh_ttl))

    def revoke(self, token: str, now: float) -> bool:
        """RFC 7009: revoke the session an access or refresh token belongs to (both kinds).

        True when the token was known (its session, or a stray token, is now revoked); unknown: False.
        """
        digest = _hash_token(token)
        with self._tx() as db:
            row = db.execute("SELECT grant_id FROM token_grants WHERE token_hash = ? UNION"
                             " SELECT grant_id FROM refresh_tokens WHERE token_hash = ?", (digest, digest)).fetchone()
            if row is None:
                cur = db.execute("UPDATE tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                                 (now, digest))
                return cur.rowcount > 0
            db.execute("UPDATE grants SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL", (now, row[0]))
            db.execute("UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL AND token_hash IN"
                       " (SELECT token_hash FROM token_grants WHERE grant_id = ?)", (now, row[0]))
            return True

    def sessions(self) -> list[dict[str, object]]:
        """Every session (grant) ever opened, oldest first: what an admin (or a test) checks after a logout."""
        return [
            {"session_id": grant_id, "login": login, "created_at": iso(created),
             "revoked_at": None if revoked is None else iso(revoked)}
            for grant_id, login, created, revoked in self._db.execute(
                "SELECT grant_id, login, created_at, revoked_at FROM grants ORDER BY created_at, rowid")
        ]

    # -- project ownership ------------------------------------------------------------------------

    def project_access(self, project: str, login: str, now: float, *, claim: bool) -> bool:
        """May ``login`` touch ``project``? An unowned project is free; ``claim`` makes the caller its owner."""
        with self._tx() as db:
            members = dict(db.execute("SELECT login, role FROM project_members WHERE project = ?", (project,)))
            if not members:
                if claim:
                    db.execute("INSERT INTO project_members (project, login, role, created_at)"
                               " VALUES (?, ?, 'owner', ?)", (project, login, now))
                return True
            return login in members

    def grant_project(self, project: str, login: str, now: float) -> None:
        """Admin: let ``login`` use ``project`` (the first login granted on an unowned project owns it)."""
        with self._tx() as db:
            owned = db.execute("SELECT 1 FROM project_members WHERE project = ?", (project,)).fetchone()
            db.execute("INSERT OR IGNORE INTO project_members (project, login, role, created_at) VALUES (?, ?, ?, ?)",
                       (project, login, "member" if owned else "owner", now))

    def issue_token(self, login: str, expires_in: int, now: float, email: str | None = None, *,
                    refresh_ttl: int = REFRESH_TTL) -> IssuedToken:
        with self._tx() as db:
            return self._insert_token(db, login, email, expires_in, now, refresh_ttl=refresh_ttl)

    def principal(self, token: str) -> Principal | None:
        row = self._db.execute(
            "SELECT u.login, u.email, t.expires_at, t.revoked_at, g.grant_id FROM tokens t"
            " JOIN users u ON u.login = t.login LEFT JOIN token_grants g ON g.token_hash = t.token_hash"
            " WHERE t.token_hash = ?",
            (_hash_token(token),),
        ).fetchone()
        if row is None:
            return None
        return Principal(row[0], row[1], row[2], row[3] is not None, row[4])

    def revoke_token(self, token: str, now: float) -> None:
        """Admin revoke: the whole grant, so the refresh token cannot bring the session back."""
        self.revoke(token, now)

    # -- device codes -----------------------------------------------------------------------------

    def create_device_code(self, expires_in: int, now: float, approved_login: str | None) -> DeviceCode:
        """A new code; `approved_login` set means auto-approve (the code is born approved)."""
        with self._tx() as db:
            while True:
                raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
                user_code = f"{raw[:4]}-{raw[4:]}"
                clash = db.execute(
                    "SELECT 1 FROM device_codes WHERE user_code = ? AND expires_at > ?", (user_code, now)
                ).fetchone()
                if clash is None:
                    break
            code = DeviceCode(
                device_code=secrets.token_urlsafe(32),
                user_code=user_code,
                created_at=now,
                expires_at=now + expires_in,
                status="approved" if approved_login else "pending",
                login=approved_login,
            )
            db.execute(
                "INSERT INTO device_codes (device_code, user_code, created_at, expires_at, status, login)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (code.device_code, code.user_code, code.created_at, code.expires_at, code.status, code.login),
            )
            return code

    def device_by_user_code(self, user_code: str) -> DeviceCode | None:
        """The newest code with this user code (old expired codes may share it)."""
        row = self._db.execute(
            "SELECT device_code, user_code, created_at, expires_at, status, login FROM device_codes"
            " WHERE user_code = ? ORDER BY created_at DESC LIMIT 1",
            (user_code,),
        ).fetchone()
        return DeviceCode(*row) if row else None

    def decide_device(self, device_code: str, login: str | None, approve: bool) -> None:
        """Approve or deny a pending code; the caller has checked it exists, is pending and unexpired."""
        with self._tx() as db:
            db.execute(
                "UPDATE device_codes SET status = ?, login = ? WHERE device_code = ? AND status = 'pending'",
                ("approved" if approve else "denied", login, device_code),
            )

    def redeem_device_code(self, device_code: str, now: float, token_ttl: int, *,
                           refresh_ttl: int = REFRESH_TTL) -> tuple[str, IssuedToken | None]:
        """One poll of the token endpoint: an RFC 8628 error code, or ("ok", token) exactly once."""
        with self._tx() as db:
            row = db.execute(
                "SELECT status, expires_at, login FROM device_codes WHERE device_code = ?", (device_code,)
            ).fetchone()
            if row is None:
                return "invalid_grant", None
            status, expires_at, login = row
            if status == "consumed":
                return "invalid_grant", None
            if now >= expires_at:
                return "expired_token", None
            if status == "denied":
                return "access_denied", None
            if status == "pending":
                return "authorization_pending", None
            db.execute("UPDATE device_codes SET status = 'consumed' WHERE device_code = ?", (device_code,))
            return "ok", self._insert_token(db, login, None, token_ttl, now, refresh_ttl=refresh_ttl)

    # -- stats ------------------------------------------------------------------------------------

    def binding_count(self) -> int:
        return int(self.tracker.count())
