"""``~/.spec-kitty/auth.json``: the SaaS session. Born 0600, written atomically, never printed.

Absent, unreadable or malformed counts as "no token" (the machine then rests in Unauthed); a
malformed file is also reported by name, once, so an operator can tell "never logged in" from
"something clobbered my session".
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import NamedTuple

from orchestrator import paths
from orchestrator.fsutil import atomic_write_text


class Session(NamedTuple):  # not a dataclass: read on every hosted command's start-up
    access_token: str
    server_url: str
    expires_at: str | None = None
    login: str | None = None

    def __repr__(self) -> str:  # never let a token reach a log or traceback through repr()
        return f"Session(login={self.login!r}, server_url={self.server_url!r}, expires_at={self.expires_at!r})"


class AuthRead(NamedTuple):
    session: Session | None
    malformed: Path | None = None


def read_session(path: Path | None = None) -> AuthRead:
    path = path or paths.auth_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return AuthRead(None)
    except OSError:
        return AuthRead(None, malformed=path)
    try:
        data = json.loads(raw)
        token = data["access_token"]
        if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
            raise ValueError
        return AuthRead(
            Session(
                access_token=token,
                server_url=str(data.get("server_url") or ""),
                expires_at=data.get("expires_at"),
                login=data.get("login"),
            )
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return AuthRead(None, malformed=path)


def write_session(session: Session, path: Path | None = None) -> None:
    atomic_write_text(path or paths.auth_file(), json.dumps(session._asdict(), indent=2) + "\n", mode=0o600)


def remove_session(path: Path | None = None) -> bool:
    """Delete the token file; returns whether there was one (logout is idempotent)."""
    with contextlib.suppress(FileNotFoundError):
        (path or paths.auth_file()).unlink()
        return True
    return False
