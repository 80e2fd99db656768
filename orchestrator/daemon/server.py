"""The daemon process: its lifecycle from bound socket to clean exit.

Imported by ``__main__`` only after the lock is held, so a process that lost the spawn race exits
before paying for aiohttp. The parts live beside it: ``control`` (the loopback API), ``jobs`` (what
clients wait for), ``scheduler`` (when and how targets sync), ``settings`` (config re-reads) and
``logs``. This module binds, publishes the state file, runs housekeeping every tick and retires:

- *Never orphaned*: it retires after ``[sync].daemon_idle_seconds`` without sync requests, when the
  readiness machine says no daemon is wanted (policy ``manual``, ``SPEC_KITTY_SYNC_DISABLE``), or when
  its lock or state file stops being its own (home removed, replaced);
  on a clean exit it removes exactly its own state and lock files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

import orchestrator
from orchestrator.daemon.control import ControlApi
from orchestrator.daemon.jobs import Job, JobRegistry
from orchestrator.daemon.lock import DaemonLock
from orchestrator.daemon.logs import setup_logging
from orchestrator.daemon.scheduler import Scheduler
from orchestrator.daemon.settings import Settings, read_settings
from orchestrator.daemon.state import DaemonState, read_state, write_state
from orchestrator.daemon.targets import TargetKey
from orchestrator.home import paths

log = logging.getLogger("spec_kitty.daemon")

TICK = 1.0  # scheduler / idle / self-check period
EXIT_GRACE = 3.0  # how long a retiring daemon lets an in-flight upload finish


class Daemon:
    """State and behaviour of one daemon process (one per ``SPEC_KITTY_HOME``)."""

    def __init__(self, lock: DaemonLock, *, scheduler: Scheduler | None = None,
                 settings: Callable[[], Settings] = read_settings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = lock
        self.clock = clock
        self.settings = settings
        self.pid = os.getpid()
        self.secret = secrets.token_urlsafe(32)
        self.version = orchestrator.__version__
        self.started = clock()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.last_request = self.started
        self.scheduler = scheduler or Scheduler(clock=clock)
        self.jobs = JobRegistry(clock)
        self.stopping = asyncio.Event()
        self.stop_reason = "stopped"
        self.state: DaemonState | None = None

    def uptime(self) -> float:
        return round(self.clock() - self.started, 3)

    def sync_requested(self, key: TargetKey) -> Job:
        """A client asked for a sync: it counts as activity, and it joins the target's next run."""
        self.last_request = self.clock()
        target = self.scheduler.target(key)
        return self.jobs.add(key, self.scheduler.request_sync(target))

    def retire(self, reason: str) -> None:
        if not self.stopping.is_set():
            self.stop_reason = reason
            self.stopping.set()

    async def housekeeping(self) -> None:
        """Every tick: background syncs that are due, job expiry, idle retirement, policy, self-checks."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), TICK)
            if self.stopping.is_set():
                return
            self.tick(self.clock())

    def tick(self, now: float) -> None:
        self.scheduler.start_due(now)
        self.jobs.expire(now)
        self.check_still_wanted(now)

    def check_still_wanted(self, now: float) -> None:
        if not self.lock.still_ours() or read_state() != self.state:
            self.retire("its lock or state file was removed or replaced")
            return
        retire, idle_seconds = self.settings()
        if retire is not None:
            self.retire(retire)
        elif now - self.last_request >= idle_seconds and not self.scheduler.busy():
            self.retire(f"idle for {idle_seconds}s")

    async def serve(self) -> None:
        """Bind, publish the state file (only now can clients reach us), run until retired, clean up."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.retire, f"signal {sig.name}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        runner = web.AppRunner(ControlApi(self).app(), access_log=None, handle_signals=False,
                               shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock, shutdown_timeout=1.0).start()
        self.state = DaemonState(self.pid, sock.getsockname()[1], self.secret, self.version, self.started_at)
        write_state(self.state)
        log.info("daemon %s (pid %d) listening on 127.0.0.1:%d", self.version, self.pid, self.state.port)
        keeper = loop.create_task(self.housekeeping())
        try:
            await self.stopping.wait()
        finally:
            log.info("retiring: %s", self.stop_reason)
            keeper.cancel()
            self.jobs.abandon(self.stop_reason)
            await runner.cleanup()
            busy = self.scheduler.busy()
            if busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*(t.lock.acquire() for t in busy)), EXIT_GRACE)
            self.scheduler.executor.shutdown(wait=False, cancel_futures=True)

    def remove_own_state(self) -> None:
        """Remove the state file only if it is still the one this process wrote."""
        if self.state is not None and read_state() == self.state:
            paths.daemon_state_file().unlink(missing_ok=True)


def run(lock: DaemonLock) -> int:
    """Serve until retired; always remove our own files and release the lock on the way out."""
    setup_logging()
    daemon: Daemon | None = None
    code = 1  # a crash (any exception, or one the ``except`` below does not see) is never a success
    try:
        async def main() -> None:
            nonlocal daemon
            daemon = Daemon(lock)
            await daemon.serve()

        asyncio.run(main())
        code = 0
        return code
    except Exception:
        log.exception("daemon failed")
        return code
    finally:
        if daemon is not None:
            daemon.remove_own_state()
        lock.release()
        log.info("daemon exited")
        logging.shutdown()
        if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
            os._exit(code)  # an upload thread outlived the grace period; the queue is transactional
