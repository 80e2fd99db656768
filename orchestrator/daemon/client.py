"""The CLI's side of the daemon: find or start it, hand it a sync, read its status, stop it.

Stdlib only (no aiohttp, no asyncio): a command that finds a healthy daemon pays for one state-file
read and two loopback requests. The rules that keep exactly one daemon and a CLI that never hangs:

- **The lock decides who is the daemon.** Several CLIs may spawn at once; every spawned process tries
  the lock first and the losers exit. Clients never hold or delete the lock; they ask the OS who holds
  it (``state.lock_holder``) and wait for the holder's state file.
- **A daemon is used only if it answers health with our version** (the daemon-life machine's
  ``Running``, asked through ``life.look``). Another version is asked to shut down and replaced; a
  state file whose writer no longer holds the lock is stale (the writer died) and is simply
  overwritten by the next daemon; a lock holder that wrote its state but stops answering
  for ``HUNG_AFTER`` seconds is killed, and only after the OS confirmed it holds the lock (a pid from
  a file may have been reused by an unrelated process).
- **Bounded.** Starting or reaching the daemon gets ``BUDGET`` seconds in total, and a running sync is
  polled in short steps, so a dead daemon is noticed within seconds. Trouble raises
  ``DaemonUnavailable``; the command then says so in one line and syncs in-process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.daemon import MODULE
from orchestrator.daemon.life import Status, daemon_status, foreign_daemon, look
from orchestrator.daemon.state import UNKNOWN_HOLDER, ControlError, DaemonState, call, lock_holder, pid_alive
from orchestrator.errors import CatalogFailure, SpecKittyError
from orchestrator.home import paths
from states import catalog
from states.daemon_life import ENSURE_Q, NOT_RUNNING, OTHER_VERSION, PUBLISHED, RUNNING, STOP_Q, TROUBLED

if TYPE_CHECKING:
    from orchestrator.facts import LiveFacts

BUDGET = 4.5  # seconds a command may spend starting or reaching the daemon (the promise is 5)
STEP = 0.02  # polling step while a daemon starts
HEALTH_TIMEOUT = 1.0
HUNG_AFTER = 3.0  # a lock holder that published its state but does not answer this long is hung
MAX_SPAWNS = 3
POLL_WAIT = 1.5  # the daemon holds a job poll this long before answering "not done yet"
STOP_TIMEOUT = 5.0


class DaemonUnavailable(SpecKittyError):
    """The daemon could not be started or reached in time; ``reason`` completes the catalog line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def spawn() -> subprocess.Popen[bytes]:
    """Start ``python -P -m orchestrator.daemon`` detached: new session, no terminal, cwd at home.

    ``sys.executable`` is the interpreter this CLI runs on, so the child imports the very same install
    (pipx, venv or editable); ``-P`` keeps the home folder (the child's cwd) off ``sys.path``. The
    child's stdio is /dev/null so it never holds a caller's pipe open. It inherits no credential: a
    ``SPEC_KITTY_SAAS_TOKEN`` is a fact about one host and one process, and a daemon outlives both (it
    re-reads each host's session from auth.json for every job instead).
    """
    env = {k: v for k, v in os.environ.items() if k != catalog.SAAS_TOKEN_ENV_VAR}
    env[catalog.HOME_ENV_VAR] = str(paths.home().absolute())
    cwd = Path.home() if Path.home().is_dir() else Path("/")
    try:
        return subprocess.Popen([sys.executable, "-P", "-m", MODULE], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env,
                                start_new_session=True, close_fds=True)
    except OSError as exc:
        raise DaemonUnavailable(catalog.DAEMON_REASON_SPAWN.format(error=exc.strerror or exc)) from None


def _kill(pid: int) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def refuse_if_foreign() -> None:
    """spec-kitty's daemon holds this home: never start, replace, stop or signal anything here; the
    command ends as in manual mode (exit 0, one line and its next action)."""
    foreign = foreign_daemon()
    if foreign is not None:
        raise CatalogFailure(catalog.DAEMON_FOREIGN.filled(pid=foreign.pid if foreign.pid is not None else "?"))


def ensure_daemon(deadline: float) -> DaemonState:
    """A healthy daemon of our version, started or replaced as needed; raises DaemonUnavailable, or
    ``CatalogFailure`` (exit 0) when spec-kitty's daemon holds the home (checked before every spawn)."""
    refuse_if_foreign()
    child: subprocess.Popen[bytes] | None = None
    spawns = 0
    asked_to_stop: set[int] = set()
    troubled_since: dict[int, float] = {}
    try:
        while True:
            now = time.monotonic()
            seen = look(ENSURE_Q, timeout=max(min(HEALTH_TIMEOUT, deadline - now), 0.05), spawned=child)
            state = seen.facts.state
            if seen.state == RUNNING and state is not None:
                return state
            if seen.state in TROUBLED and state is not None:
                troubled_since.setdefault(state.pid, now)
                if seen.state == OTHER_VERSION and state.pid not in asked_to_stop:  # ask it to go, then replace it
                    asked_to_stop.add(state.pid)
                    with contextlib.suppress(ControlError):
                        call(state, "POST", "/shutdown", timeout=HEALTH_TIMEOUT)
                if seen.facts.holder == state.pid and now - troubled_since[state.pid] >= HUNG_AFTER:
                    _kill(state.pid)  # the OS confirmed this pid holds the daemon lock
            elif seen.state == NOT_RUNNING:
                refuse_if_foreign()  # spec-kitty may have published its daemon meanwhile
                # Nobody is the daemon and nobody we started is on the way: start one. Racing clients
                # may all do this; the lock lets one through and the others exit at once.
                if spawns >= MAX_SPAWNS:
                    raise DaemonUnavailable(catalog.DAEMON_REASON_EXITED)
                child = spawn()
                spawns += 1
            # else Starting: a daemon holds the lock but has not published its state yet, or ours is on its way.
            if time.monotonic() >= deadline:
                raise DaemonUnavailable(catalog.DAEMON_REASON_TIMEOUT.format(seconds=BUDGET))
            time.sleep(STEP)
    finally:
        if child is not None:  # it is meant to outlive us: its "still running" warning is noise
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                child.poll()
                child = None  # drop the last reference here, while the warning is silenced


def sync_request(current: LiveFacts) -> dict[str, Any]:
    """What the daemon needs to sync what this command would: where, which mission, which host env."""
    return {"repo_root": str(current.repo_root), "mission": current.mission_slug,
            "saas_url": str(current.context.env.get(catalog.SAAS_URL_ENV_VAR, "") or "").strip()}


def sync_now(current: LiveFacts, *, budget: float = BUDGET) -> dict[str, Any]:
    """Ask the daemon (started if needed) to sync now and wait for the result (a ``SyncResult`` as JSON).

    A sync failure comes back as the exception ``sync run`` would raise (same wording, same exit
    code); daemon trouble raises DaemonUnavailable, and so does a command holding its token in
    ``SPEC_KITTY_SAAS_TOKEN``: that token serves only the process that holds it, so its job runs here
    (the caller's in-process fallback) and never reaches a daemon that serves other commands and hosts.
    """
    if current.env_token:
        raise DaemonUnavailable(catalog.DAEMON_REASON_ENV_TOKEN)
    deadline = time.monotonic() + budget
    request = sync_request(current)
    while True:
        state = ensure_daemon(deadline)
        try:
            answer = call(state, "POST", f"/sync?wait={POLL_WAIT}", request, timeout=POLL_WAIT + 1.5)
            break
        except ControlError:  # it retired (or died) between health and request: find or start another
            if time.monotonic() >= deadline:
                raise DaemonUnavailable(catalog.DAEMON_REASON_LOST) from None
    from orchestrator.home.limits import JOB_DEADLINES, deadline_seconds

    job_deadline = time.monotonic() + JOB_DEADLINES * deadline_seconds()
    while not answer.get("done"):
        if time.monotonic() >= job_deadline:  # never wait on a stuck job without limit
            raise CatalogFailure(catalog.DAEMON_JOB_SLOW.filled(seconds=JOB_DEADLINES * deadline_seconds()))
        try:
            answer = call(state, "GET", f"/jobs/{answer.get('job')}?wait={POLL_WAIT}", timeout=POLL_WAIT + 1.5)
        except ControlError:
            raise DaemonUnavailable(catalog.DAEMON_REASON_LOST) from None
    error = answer.get("error")
    if error:
        raise error_from_json(error)
    result = answer.get("result")
    if not isinstance(result, dict):
        raise DaemonUnavailable(catalog.DAEMON_REASON_LOST)
    return result


def error_from_json(error: dict[str, Any]) -> SpecKittyError:
    """The daemon's description of a failed sync, as the exception the CLI edge already renders."""
    kind = error.get("kind")
    if kind == "catalog":
        failure = catalog.Failure(str(error.get("message", "")), str(error.get("next_action", "")),
                                  catalog.ExitCode(int(error.get("exit_code", 1))), bool(error.get("gap", True)))
        return CatalogFailure(failure)
    if kind == "error":
        exc = SpecKittyError(str(error.get("message", "")))
        exc.exit_code = catalog.ExitCode(int(error.get("exit_code", 1)))
        return exc
    return DaemonUnavailable(catalog.DAEMON_REASON_LOST)  # the daemon stopped or broke mid-run


def status(*, timeout: float = 2.0) -> Status:
    """What ``sync daemon status`` shows: the machine's state, and ``running`` plus the daemon's /status
    answer when it runs."""
    return daemon_status("/status", timeout=timeout)


def stop(*, timeout: float = STOP_TIMEOUT) -> int | None:
    """Shut the daemon down and wait until it is gone; the pid it had, or None if none was running.

    Idempotent. A daemon that does not obey within the timeout is killed, but only once the OS has
    confirmed that this pid holds the daemon lock.
    """
    refuse_if_foreign()
    deadline = time.monotonic() + timeout
    seen = look(STOP_Q)
    while seen.state not in (NOT_RUNNING, PUBLISHED):
        if time.monotonic() >= deadline:  # a lock holder that never publishes its state: hung at birth
            break
        time.sleep(STEP)  # a daemon is starting: let it publish its state, then stop it properly
        seen = look(STOP_Q)
    state, holder = seen.facts.state, seen.facts.holder
    if holder is None:
        return None
    pid = state.pid if state is not None and holder == UNKNOWN_HOLDER else holder
    if state is not None:
        with contextlib.suppress(ControlError):
            call(state, "POST", "/shutdown", timeout=1.0)
    killed = False
    while True:
        holder = lock_holder()
        if holder is None or holder not in (pid, UNKNOWN_HOLDER):
            break
        if time.monotonic() >= deadline:
            if killed or holder != pid:
                raise SpecKittyError(catalog.DAEMON_STOP_FAILED.format(pid=pid, seconds=round(timeout)))
            _kill(pid)
            killed = True
            deadline = time.monotonic() + 2.0
        time.sleep(STEP)
    while pid_alive(pid) and time.monotonic() < deadline:  # it released the lock; let it finish exiting
        time.sleep(STEP)
    return pid
