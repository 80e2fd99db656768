"""The daemon's state file and its loopback control calls, in stdlib only.

``spec-kitty status`` shows a one-line daemon summary when a state file exists, and the CLI side of
the daemon (``client``) must not pay for aiohttp or asyncio, so the raw means a client needs to find and
question a daemon live here: read the state file, ask who holds the lock, whether a pid lives, call an
endpoint with the per-run secret. What those facts add up to is the daemon-life machine's answer
(``orchestrator.daemon.life``). ``http.client`` is imported inside the call, so merely importing this
module opens nothing and loads no networking code.

The lock, not the state file, is the truth about whether a daemon runs (the OS frees a lock when its
holder dies; a state file survives a ``kill -9``). Clients therefore never delete either file: a
stale state file is simply overwritten by the next daemon, and a stale lock file blocks nobody.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.daemon import lock
from orchestrator.daemon.lock import UNKNOWN_HOLDER as UNKNOWN_HOLDER
from orchestrator.home import paths
from orchestrator.home.fsutil import atomic_write_text, read_small


@dataclass(frozen=True)
class DaemonState:
    """What a running daemon publishes about itself (file mode 0600: ``secret`` guards control)."""

    pid: int
    port: int
    secret: str
    version: str
    started_at: str

    def __repr__(self) -> str:  # the secret must never reach a log or traceback through repr()
        return f"DaemonState(pid={self.pid}, port={self.port}, version={self.version!r})"

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "port": self.port, "secret": self.secret, "version": self.version,
                           "started_at": self.started_at}, sort_keys=True)


def read_state(path: Path | None = None) -> DaemonState | None:
    """The published state, or None when absent or unreadable (a torn file cannot occur: writes replace)."""
    try:
        data = json.loads(read_small(path or paths.daemon_state_file()))  # never a FIFO's endless wait
        return DaemonState(pid=int(data["pid"]), port=int(data["port"]), secret=str(data["secret"]),
                           version=str(data["version"]), started_at=str(data.get("started_at") or ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(state: DaemonState, path: Path | None = None) -> None:
    """Publish atomically, born 0600 (the secret is never briefly world-readable)."""
    atomic_write_text(path or paths.daemon_state_file(), state.to_json() + "\n", mode=0o600)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` names a live (non-zombie) process. Used for display and waiting, never to
    decide what to kill: pids are reused, the lock is not."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child of a parent that never reaps it stays a zombie: not alive for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def lock_holder(path: Path | None = None) -> int | None:
    """The pid holding the daemon lock (``orchestrator.daemon.lock.lock_holder`` on this home's lock file)."""
    return lock.lock_holder(path or paths.daemon_lock_file())


class ControlError(Exception):
    """The daemon did not answer a control call usefully (refused, timed out, or an error status)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


def call(state: DaemonState, method: str, path: str, body: dict[str, Any] | None = None, *,
         timeout: float) -> dict[str, Any]:
    """One authenticated loopback request; returns the JSON answer of a 2xx, raises ControlError else.

    ``http.client`` ignores proxy variables, which is what loopback needs.
    """
    import http.client

    payload = None if body is None else json.dumps(body).encode("utf-8")
    headers = {"Authorization": f"Bearer {state.secret}", "Accept": "application/json"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", state.port, timeout=max(timeout, 0.01))
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        raise ControlError(type(exc).__name__) from None
    finally:
        conn.close()
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = {}
    if not 200 <= status < 300:
        raise ControlError(str(answer.get("error") or f"HTTP {status}"), status)
    return answer if isinstance(answer, dict) else {}
