"""The daemon's state file and its loopback control calls, in stdlib only.

``spec-kitty status`` shows a one-line daemon summary when a state file exists, and the CLI side of
the daemon (``client``) must not pay for aiohttp or asyncio, so everything a client needs to find and
question a daemon lives here: read the state file, ask who holds the lock, call an endpoint with the
per-run secret. ``http.client`` is imported inside the call, so merely importing this module opens
nothing and loads no networking code.

The lock, not the state file, is the truth about whether a daemon runs (the OS frees a lock when its
holder dies; a state file survives a ``kill -9``). Clients therefore never delete either file: a
stale state file is simply overwritten by the next daemon, and a stale lock file blocks nobody.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.daemon import MODULE
from orchestrator.home import paths
from orchestrator.home.fsutil import atomic_write_text, read_small

UNKNOWN_HOLDER = -1  # the lock is held, but this platform cannot tell by whom
PROC_LOCKS = Path("/proc/locks")  # Linux only: an optional cross-check, never required


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
    """The pid holding the daemon lock, None when it is free, ``UNKNOWN_HOLDER`` when held by someone.

    The lock is a whole-file ``flock`` (``orchestrator.daemon.lock``, and spec-kitty's on the same file),
    which ``fcntl(F_GETLK)`` cannot see. Linux lists every ``FLOCK`` with its holder's pid in
    ``/proc/locks``, so the holder is read there without taking the lock (a client that try-acquired it,
    even for a microsecond, could make a daemon starting at that instant believe it lost the race).
    Elsewhere we fall back to try-acquire-then-release (the daemon retries briefly to absorb that) and
    can only say "someone". Never call this from the lock's own holder with the try-acquire fallback:
    ``flock`` on a second descriptor of one's own locked file would report it busy.
    """
    lock_path = path or paths.daemon_lock_file()
    if not lock_path.exists():
        return None
    if PROC_LOCKS.exists():
        return holder_from_proc_locks(lock_path)
    return _probe_by_acquiring(lock_path)


def holder_from_proc_locks(lock_path: Path) -> int | None:
    """The holder as Linux's ``/proc/locks`` lists it (absent elsewhere)."""
    try:
        st = os.stat(lock_path)
        table = PROC_LOCKS.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _probe_by_acquiring(lock_path)
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    for line in table.splitlines():
        fields = line.split()
        if "->" in fields or len(fields) < 6:  # "->" marks a process blocked waiting, not a holder
            continue
        try:
            major, minor, inode = fields[5].split(":")
            where = (int(major, 16), int(minor, 16), int(inode))
            pid = int(fields[4])
        except ValueError:
            continue
        if where == wanted:
            return pid if pid > 0 else UNKNOWN_HOLDER
    return None


def _probe_by_acquiring(lock_path: Path) -> int | None:
    import fcntl

    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        return UNKNOWN_HOLDER
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return UNKNOWN_HOLDER
    finally:
        os.close(fd)  # also releases the probe's own lock when it got one
    return None


# --- spec-kitty's own daemon, in the same home ---------------------------------------------------------
class Foreign(NamedTuple):
    """A daemon of spec-kitty-cli in this home: its pid (None when unknown) and whether that pid lives."""

    pid: int | None
    alive: bool


def foreign_state(path: Path | None = None) -> Foreign | None:
    """The ``sync-daemon`` file when spec-kitty wrote it: lines url, port, token, pid (ours is JSON)."""
    try:
        text = (path or paths.daemon_state_file()).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0].startswith("{") or len(lines) < 2 or not lines[1].isdigit():
        return None
    pid = int(lines[3]) if len(lines) >= 4 and lines[3].isdigit() else None
    return Foreign(pid, pid is not None and pid_alive(pid))


def _is_ours(pid: int) -> bool:
    """Whether ``pid`` runs this tool's daemon (``python -m orchestrator.daemon``); without ``/proc`` to
    ask, a holder is taken to be ours (the state file says otherwise when it is spec-kitty's)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self/cmdline").exists()
    except OSError:
        return True
    return MODULE.encode() in argv


def foreign_daemon() -> Foreign | None:
    """spec-kitty's daemon, when this home has one: a state file in its format (whether or not its pid
    still runs: we never overwrite or remove its file), or a lock held by a process that is not ours
    (spec-kitty holds the lock while it starts its daemon). The one answer every daemon decision of
    ours asks before starting, stopping, signalling or publishing anything."""
    found = foreign_state()
    if found is not None:
        return found
    holder = lock_holder()
    if holder is None or holder == UNKNOWN_HOLDER or holder == os.getpid():
        return None
    ours = read_state()
    if (ours is not None and ours.pid == holder) or _is_ours(holder):
        return None
    return Foreign(holder, True)


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


def health(state: DaemonState, *, timeout: float) -> dict[str, Any] | None:
    """The daemon's health answer (version, pid, uptime), or None if it does not give one in time."""
    try:
        answer = call(state, "GET", "/health", timeout=timeout)
    except ControlError:
        return None
    return answer if answer.get("pid") == state.pid else None


def published(state: DaemonState | None, holder: int | None) -> bool:
    """Whether the state file was written by the process that holds the lock (the daemon is up)."""
    return state is not None and holder is not None and holder in (state.pid, UNKNOWN_HOLDER)


def daemon_status(endpoint: str = "/health", *, timeout: float) -> dict[str, Any]:
    """Whether the daemon runs, the one answer behind ``spec-kitty status`` and ``sync daemon status``.

    The lock is the truth: nobody holding it means not running; a holder that has not published its
    state is starting; only a holder that published is asked ``endpoint`` over loopback. The answer
    is ``{"running": False}``, ``{"running": False, "starting": True, "pid"}``,
    ``{"running": False, "answering": False, "pid"}`` or the daemon's own answer plus ``running: True``.
    """
    foreign = foreign_daemon()
    if foreign is not None:
        return {"running": False, "foreign": True, "pid": foreign.pid, "alive": foreign.alive}
    state = read_state()
    holder = lock_holder()
    if holder is None:
        return {"running": False}
    if state is None or not published(state, holder):
        return {"running": False, "starting": True, "pid": holder}
    try:
        answer = call(state, "GET", endpoint, timeout=timeout)
    except ControlError:
        answer = {}
    if answer.get("pid") != state.pid:
        return {"running": False, "answering": False, "pid": state.pid}
    return dict(answer, running=True)


def format_uptime(seconds: float) -> str:
    """``3h 4m``, ``4m 2s``, ``7s``: enough precision for an operator glancing at status."""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def summary_line(*, timeout: float = 0.3) -> str | None:
    """One line for ``spec-kitty status``; None (and no network at all) when no state file exists."""
    from states import catalog

    if not paths.daemon_state_file().exists():
        return None
    info = daemon_status("/health", timeout=timeout)
    if info.get("foreign"):
        return foreign_line(info)
    if info["running"]:
        return catalog.DAEMON_LINE_RUNNING.format(pid=info["pid"], version=info.get("version", "?"),
                                                  uptime=format_uptime(float(info.get("uptime") or 0)))
    if info.get("answering") is False:
        return catalog.DAEMON_LINE_NOT_ANSWERING.format(pid=info["pid"])
    return catalog.DAEMON_LINE_NOT_RUNNING


def foreign_line(info: dict[str, Any]) -> str:
    """``sync daemon status``'s (and ``status``'s) line for spec-kitty's daemon."""
    from states import catalog

    if info.get("alive"):
        return catalog.DAEMON_LINE_FOREIGN.format(pid=info.get("pid"))
    return catalog.DAEMON_LINE_FOREIGN_STALE.format(pid=info.get("pid") or "?")
