"""``~/.spec-kitty/auth.json``: one SaaS session per origin. Born 0600, written atomically, never printed.

A token is a fact *about a host* (gh's ``hosts.yml``): every session is keyed by the origin that
issued it (scheme, lower-cased host, port with the default made explicit), and the client attaches
a token only to requests for that origin. Layout::

    {"version": 2, "sessions": {"https://saas.example:443": {"access_token": "…", "refresh_token": "…",
                                                             "server_url": "https://saas.example", …}}}

The single-session layout written before (``{"access_token": …, "server_url": …}``) is still read,
as one session for its ``server_url``; the next write stores the new layout.

Absent, unreadable or malformed counts as "no session" (the machine then rests in Unauthed); a
malformed file is also reported by name, once, so an operator can tell "never logged in" from
"something clobbered my session". Writers hold ``.auth.json.lock`` for each read-change-write, and a
refresh holds its origin's own lock while it is on the wire, so a login, a logout and fifty commands
refreshing at once never lose each other's sessions, and one host's stuck refresh never holds up another
host's commands. Every wait for a lock is bounded (``LOCK_WAIT``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeGuard

from orchestrator.home import paths
from orchestrator.home.fsutil import atomic_write_text

SOURCE_FILE = "file"
SOURCE_ENV = "env"
DEFAULT_PORTS = {"http": 80, "https": 443}
REFRESH_MARGIN = 60.0  # seconds before expires_at that a client refreshes instead of using the token


def origin(url: str) -> str:
    """``https://Saas.Example/`` → ``https://saas.example:443``: what a session and a binding are keyed by.

    Two spellings of the same host (case, trailing slash, an explicit default port, a path) are one
    origin; anything else (another scheme, port or host) is another, and never sees this token.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = 0
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}" if host else ""


class Session(NamedTuple):  # not a dataclass: read on every hosted command's start-up
    access_token: str
    server_url: str
    expires_at: str | None = None
    login: str | None = None  # what `auth status` shows: the account's email
    refresh_token: str | None = None
    source: str = SOURCE_FILE  # "env" for SPEC_KITTY_SAAS_TOKEN, which is never written
    session_id: str | None = None
    refresh_expires_at: str | None = None
    user_id: str | None = None
    name: str | None = None
    teams: tuple[dict[str, Any], ...] = ()  # as /api/v1/me lists them: id, name, role, slug, is_private_teamspace
    grant: str | None = None  # how it was obtained: "device" or "token"; None: the previous protocol's session

    def __repr__(self) -> str:  # never let a token reach a log or traceback through repr()
        return f"Session(login={self.login!r}, server_url={self.server_url!r}, expires_at={self.expires_at!r})"

    @property
    def origin(self) -> str:
        return origin(self.server_url)

    @property
    def legacy(self) -> bool:
        """Stored by the previous protocol (before the OAuth endpoints): never sent to the new ones."""
        return self.source == SOURCE_FILE and self.grant is None

    @property
    def private_team(self) -> str | None:
        """The private team's slug (its id when it has none): the ``team_slug`` events are synced under."""
        for team in self.teams:
            if team.get("is_private_teamspace"):
                return str(team.get("slug") or team.get("id") or "") or None
        return None

    @property
    def shared_teams(self) -> list[str]:
        """The ids of the non-private teams: the tracker's ``X-Team-Slug`` is the one of them
        (specify_cli/tracker/saas_client.py ``_hosted_authority_for_token`` sends the team's ``id``)."""
        return [str(team.get("id")) for team in self.teams
                if not team.get("is_private_teamspace") and str(team.get("id") or "").strip()]

    @property
    def team_names(self) -> list[str]:
        return [str(team.get("slug") or team.get("name") or team.get("id")) for team in self.teams]

    def seconds_left(self, now: float) -> float | None:
        """Seconds until ``expires_at`` (negative once past); ``None`` when the expiry is unknown."""
        when = parse_time(self.expires_at)
        return None if when is None else when - now

    def expired(self, now: float, margin: float = 0.0) -> bool:
        left = self.seconds_left(now)
        return left is not None and left <= margin

    def with_identity(self, me: dict[str, Any]) -> Session:
        """This session with who ``/api/v1/me`` says it belongs to."""
        teams = tuple(dict(team) for team in me.get("teams") or () if isinstance(team, dict))
        email = str(me.get("email") or "") or None
        return self._replace(user_id=str(me.get("user_id") or "") or None, login=email or self.login,
                             name=str(me.get("name") or "") or None, teams=teams)

    def renewed(self, issued: dict[str, Any], now: float) -> Session:
        """This session after a token answer (refresh grant): what the host sent replaces what it replaces."""
        refresh = issued.get("refresh_token")
        return self._replace(
            access_token=str(issued["access_token"]),
            expires_at=expiry(issued, "expires_at", "expires_in", now) or self.expires_at,
            refresh_token=refresh if valid_token(refresh) else self.refresh_token,
            refresh_expires_at=expiry(issued, "refresh_token_expires_at", "refresh_token_expires_in", now)
            or self.refresh_expires_at,
            session_id=str(issued.get("session_id") or "") or self.session_id,
        )

    def stored(self) -> dict[str, Any]:
        data = self._asdict()
        del data["source"]
        data["teams"] = [dict(team) for team in self.teams] or None
        return {k: v for k, v in data.items() if v is not None}


def expiry(answer: dict[str, Any], at_key: str, in_key: str, now: float) -> str | None:
    """An expiry as ISO 8601 UTC: the answer's ``…_at`` when it has one, else now + ``…_in`` seconds."""
    from datetime import UTC, datetime

    at = answer.get(at_key)
    if isinstance(at, str) and parse_time(at) is not None:
        return at
    seconds = answer.get(in_key)
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
        return datetime.fromtimestamp(now + float(seconds), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return None


def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (``Z`` or an offset); ``None`` if absent or bad."""
    if not value:
        return None
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class AuthRead(NamedTuple):
    sessions: dict[str, Session]  # by origin
    malformed: Path | None = None
    refused: str | None = None  # the warning for a file never read (a link, a FIFO, a device, too big)

    @property
    def session(self) -> Session | None:
        """The only session, when there is exactly one (what the single-host layout used to hold)."""
        return next(iter(self.sessions.values())) if len(self.sessions) == 1 else None


def valid_token(token: object) -> TypeGuard[str]:
    """A token as a store, a header and a pipe carry it: a non-empty string without whitespace."""
    return isinstance(token, str) and bool(token.strip()) and not any(c.isspace() for c in token)


def _session(data: object) -> Session:
    if not isinstance(data, dict) or not valid_token(data.get("access_token")):
        raise ValueError
    refresh = data.get("refresh_token")
    teams = data.get("teams")

    def text(key: str) -> str | None:
        return str(data[key]) if data.get(key) else None

    return Session(
        access_token=data["access_token"],
        server_url=str(data.get("server_url") or ""),
        expires_at=text("expires_at"),
        login=text("login"),
        refresh_token=refresh if valid_token(refresh) else None,
        session_id=text("session_id"),
        refresh_expires_at=text("refresh_expires_at"),
        user_id=text("user_id"),
        name=text("name"),
        teams=tuple(dict(t) for t in teams if isinstance(t, dict)) if isinstance(teams, list) else (),
        grant=text("grant"),
    )


def read_sessions(path: Path | None = None) -> AuthRead:
    """The sessions of ``path`` (auth.json); a file that is not a small regular one counts as absent, with
    one warning (``refused``): a FIFO there hung every command, a link to /dev/zero grew one to GBs."""
    from orchestrator.home.fsutil import FileRefused, read_small

    path = path or paths.auth_file()
    try:
        raw = read_small(path)
    except FileNotFoundError:
        return AuthRead({})
    except FileRefused as refused:
        return AuthRead({}, refused=refused.line)
    except OSError:
        return AuthRead({}, malformed=path)
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
        if "sessions" not in data:  # the single-session layout
            session = _session(data)
            return AuthRead({session.origin: session})
        stored = data["sessions"]
        if not isinstance(stored, dict):
            raise ValueError
        sessions = {}
        for entry in stored.values():
            session = _session(entry)
            sessions[session.origin] = session
        return AuthRead(sessions)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return AuthRead({}, malformed=path)


def _write(sessions: dict[str, Session], path: Path) -> None:
    body = {"version": 2, "sessions": {key: s.stored() for key, s in sorted(sessions.items())}}
    atomic_write_text(path, json.dumps(body, indent=2) + "\n", mode=0o600)


LOCK_WAIT = 5.0  # seconds a command waits for a lock of the session store before naming its holder


@contextmanager
def locked(path: Path | None = None, *, origin_key: str | None = None) -> Iterator[Path]:
    """Hold the session store's inter-process lock (every read-change-write of auth.json takes it,
    briefly: nothing waits on the network under it), or with ``origin_key`` that one origin's refresh
    lock (held while its refresh is on the wire, so fifty commands refresh once; another host's
    commands never wait behind it). Either wait is bounded (``LOCK_WAIT``, plus one call deadline for a
    refresh lock, whose holder may legitimately spend that long on the wire): then one line names the
    holder (``errors.LockBusy``) instead of hanging behind a stopped process."""
    from orchestrator.home.fsutil import interprocess_lock

    path = path or paths.auth_file()
    lock, wait = paths.lock_file_for(path), LOCK_WAIT
    if origin_key is not None:
        import hashlib

        from orchestrator.home.limits import deadline_seconds

        lock = lock.with_name(f".{path.name}.{hashlib.sha256(origin_key.encode()).hexdigest()[:16]}.lock")
        wait += deadline_seconds()  # its holder may spend one call deadline on the wire: only past that is it stuck
    with interprocess_lock(lock, timeout=wait):
        yield path


def update_sessions(change: Callable[[dict[str, Session]], bool], path: Path | None = None) -> None:
    """Read, change, write back under the lock (a malformed file is replaced only if ``change`` says so)."""
    with locked(path) as target:
        _change_locked(target, change)


def _change_locked(path: Path, change: Callable[[dict[str, Session]], bool]) -> None:
    """Read, change, write back (or delete the file once no session is left); the caller holds ``locked``."""
    sessions = dict(read_sessions(path).sessions)
    if change(sessions):
        if sessions:
            _write(sessions, path)
        else:
            path.unlink(missing_ok=True)


def write_session(session: Session, path: Path | None = None) -> None:
    """Add or replace the session for ``session``'s origin; other hosts' sessions are kept."""
    if session.source == SOURCE_ENV:  # SPEC_KITTY_SAAS_TOKEN is never written to disk
        return

    def change(sessions: dict[str, Session]) -> bool:
        sessions[session.origin] = session
        return True

    update_sessions(change, path)


def remove_session(host: str | None = None, path: Path | None = None) -> list[Session]:
    """Forget the session for ``host``'s origin, or every session when ``host`` is None; returns them."""
    removed: list[Session] = []

    def change(sessions: dict[str, Session]) -> bool:
        keys = list(sessions) if host is None else [k for k in sessions if k == origin(host)]
        removed.extend(sessions.pop(k) for k in keys)
        return bool(removed)

    target = path or paths.auth_file()
    if target.exists():
        update_sessions(change, target)
    return removed


class Credentials:
    """A session bound to the origin that issued it: what the client may attach, and to whom.

    The client asks ``for_origin`` before every request, so a token reaches no other origin even if a
    caller pairs it with the wrong base URL. A refresh swaps the session in place (``adopt``).
    """

    __slots__ = ("origin", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.origin = session.origin

    def __repr__(self) -> str:
        return f"Credentials({self.origin!r})"

    def for_origin(self, url: str) -> str | None:
        """The access token if ``url`` is this session's origin, else None."""
        return self.session.access_token if self.origin and origin(url) == self.origin else None

    def refreshable(self) -> bool:
        return self.session.source == SOURCE_FILE and self.session.refresh_token is not None

    def adopt(self, session: Session) -> None:
        self.session = session


def store_locked(path: Path, session: Session | None, key: str) -> None:
    """Replace (or drop, when ``session`` is None) one origin's session, under the store's lock (a
    refresh calls it holding only its origin's lock)."""

    def change(sessions: dict[str, Session]) -> bool:
        if session is None:
            sessions.pop(key, None)
        else:
            sessions[key] = session
        return True

    update_sessions(change, path)
