"""The daemon process: an aiohttp control server on loopback plus a background sync loop.

Imported by ``__main__`` only after the lock is held, so a process that lost the spawn race exits
before paying for aiohttp. Design points, each answering a failure seen in similar daemons:

- *Responsive while busy*: a sync runs in a worker thread (``run_sync`` owns its own event loop), so
  health and status answer during a 30 000-event upload and clients never mistake "busy" for "hung".
- *Coalesced*: concurrent sync requests for one target share the next run instead of queueing fifty
  identical uploads.
- *Never silently stuck*: every target is retried on an interval with exponential backoff while the
  host is down, and ``/status`` exposes the last result and the last error.
- *Never orphaned*: it retires after ``[sync].daemon_idle_seconds`` without sync requests, when the
  policy turns ``manual``, or when its lock or state file stops being its own (home removed, replaced);
  on a clean exit it removes exactly its own state and lock files.
- *No secrets in logs*: targets are logged by project and mission; the token lives only inside the
  ``SyncTarget`` handed to ``run_sync``.

Control endpoints (loopback only; every one needs ``Authorization: Bearer <secret from the state file>``,
else 401; while retiring everything but health answers 503):

- ``GET /health`` → ``{"status": "ok"|"stopping", "version", "pid", "uptime", "started_at"}``
- ``POST /sync?wait=S`` body ``{"repo_root", "mission", "saas_url"}`` → ``{"job", "done", "result"|"error"}``;
  the daemon gathers the facts (token, host, binding) itself, the client sends no credentials.
- ``GET /jobs/<id>?wait=S`` → the same shape; clients poll in short steps so a dead daemon shows fast.
- ``GET /status`` → ``{"version", "pid", "uptime", "queued", "last_sync", "last_error", "targets": [...]}``
- ``POST /shutdown`` → ``{"stopping": true}``; the daemon then removes its own state and lock files.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

import orchestrator
from orchestrator import paths
from orchestrator.daemon.lock import DaemonLock
from orchestrator.daemon.state import DaemonState, read_state, write_state
from orchestrator.errors import CatalogFailure, SpecKittyError
from states.catalog import DAEMON_TARGET_GONE, SAAS_URL_ENV_VAR

if TYPE_CHECKING:
    from orchestrator.facts import LiveFacts

log = logging.getLogger("spec_kitty.daemon")

SYNC_INTERVAL = 30.0  # background sync of every known target while things are fine
MAX_BACKOFF = 600.0  # longest pause between attempts while the host is down
TICK = 1.0  # scheduler / idle / self-check period
MAX_WAIT = 5.0  # longest a control request holds its answer back waiting for a sync result
JOB_TTL = 300.0  # how long a finished job's result stays fetchable
EXIT_GRACE = 3.0  # how long a retiring daemon lets an in-flight upload finish


@dataclass(frozen=True)
class TargetKey:
    """What a client asks the daemon to sync: the facts it cannot gather itself (its cwd and env)."""

    repo_root: str
    mission: str
    saas_url: str = ""  # the client's SPEC_KITTY_SAAS_URL, so the daemon syncs where the client would

    def label(self) -> str:
        return f"{Path(self.repo_root).name}/{self.mission}"

    def facts(self) -> LiveFacts:
        """Fresh facts as the requesting client would see them: its repository, mission and host env."""
        from orchestrator.facts import LiveFacts

        env = dict(os.environ)
        env.pop(SAAS_URL_ENV_VAR, None)
        if self.saas_url:
            env[SAAS_URL_ENV_VAR] = self.saas_url
        return LiveFacts(cwd=Path(self.repo_root), mission=self.mission, env=env)


@dataclass
class Target:
    """One (repository, mission) the daemon keeps in sync."""

    key: TargetKey
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: asyncio.Future[dict[str, Any]] | None = None
    running: bool = False
    last_result: dict[str, Any] | None = None
    last_error: dict[str, Any] | None = None
    last_at: str | None = None
    failures: int = 0
    due: float = 0.0


@dataclass
class Job:
    """A sync request a client is waiting for (clients poll it, so a dead daemon is noticed fast)."""

    id: int
    target: TargetKey
    future: asyncio.Future[dict[str, Any]]
    finished: float | None = None


class Stopping(Exception):
    """The daemon retired while a client waited: the client should go elsewhere, not report a failure."""


def describe_error(exc: BaseException) -> dict[str, Any]:
    """An exception as JSON the CLI can turn back into exactly what ``sync run`` would print."""
    if isinstance(exc, Stopping):
        return {"kind": "stopping", "message": str(exc)}
    if isinstance(exc, CatalogFailure):
        failure = exc.failure
        return {"kind": "catalog", "message": failure.message, "next_action": failure.next_action,
                "exit_code": int(failure.exit_code), "gap": failure.gap}
    if isinstance(exc, SpecKittyError):
        return {"kind": "error", "message": str(exc), "exit_code": int(exc.exit_code)}
    return {"kind": "internal", "message": f"{type(exc).__name__}: {exc}"}


def result_to_json(result: Any) -> dict[str, Any]:
    """A ``SyncResult`` as plain JSON values (paths and datetimes become strings)."""
    data = asdict(result) if is_dataclass(result) and not isinstance(result, type) else dict(vars(result))
    return {k: v if isinstance(v, int | float | str | bool | None | list | dict) else str(v)
            for k, v in data.items()}


class TargetGone(SpecKittyError):
    """The repository or its binding disappeared: stop syncing it in the background."""


def sync_blocking(key: TargetKey) -> dict[str, Any]:
    """Gather fresh facts for the target (token refreshes, config edits apply) and run one sync.

    Runs in a worker thread. The readiness machine decides, as for any command, whether the target
    may sync; a failure comes back with the catalog's wording.
    """
    from orchestrator.sync import run_sync
    from orchestrator.tracker import sync_target
    from states.facts import Need
    from states.machine import READY, UNBOUND, settle

    if not Path(key.repo_root).is_dir():
        raise TargetGone(DAEMON_TARGET_GONE.format(path=key.repo_root))
    facts = key.facts()
    verdict = settle(facts, Need(hosted=True, state=READY))
    if not verdict.proceed:
        assert verdict.outcome is not None
        if verdict.state == UNBOUND:
            raise TargetGone(verdict.outcome.message)
        raise CatalogFailure(verdict.outcome)
    return result_to_json(run_sync(sync_target(facts)))


class Daemon:
    """State and behaviour of one daemon process (one per ``SPEC_KITTY_HOME``)."""

    def __init__(self, lock: DaemonLock) -> None:
        self.lock = lock
        self.pid = os.getpid()
        self.secret = secrets.token_urlsafe(32)
        self.version = orchestrator.__version__
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.last_request = self.started
        self.targets: dict[TargetKey, Target] = {}
        self.jobs: dict[int, Job] = {}
        self.job_ids = itertools.count(1)
        self.stopping = asyncio.Event()
        self.stop_reason = "stopped"
        self.state: DaemonState | None = None
        self.last_sync: dict[str, Any] | None = None
        self.last_error: dict[str, Any] | None = None
        # Our own pool, not asyncio's default one: asyncio.run() would wait for an upload to finish
        # before returning, while a retiring daemon grants it only EXIT_GRACE seconds.
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sync")

    # --- control server -----------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authorize], client_max_size=64 * 1024)
        app.router.add_get("/health", self.handle_health)
        app.router.add_get("/status", self.handle_status)
        app.router.add_post("/sync", self.handle_sync)
        app.router.add_get("/jobs/{id}", self.handle_job)
        app.router.add_post("/shutdown", self.handle_shutdown)
        return app

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every endpoint needs the per-run secret: other local users and web pages get nothing."""
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, f"Bearer {self.secret}".encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.stopping.is_set() and request.path != "/health":
            return web.json_response({"error": "stopping"}, status=503)
        return await handler(request)

    def uptime(self) -> float:
        return round(time.monotonic() - self.started, 3)

    async def handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "stopping" if self.stopping.is_set() else "ok",
                                  "version": self.version, "pid": self.pid, "uptime": self.uptime(),
                                  "started_at": self.started_at})

    async def handle_sync(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            key = TargetKey(str(body["repo_root"]), str(body["mission"]), str(body.get("saas_url") or ""))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "bad_request"}, status=400)
        self.last_request = time.monotonic()
        target = self.targets.get(key)
        if target is None:
            target = self.targets[key] = Target(key)
            log.info("now keeping %s in sync", key.label())
        job = Job(next(self.job_ids), key, self.request_sync(target))
        self.jobs[job.id] = job
        return await self._answer(job, request)

    async def handle_job(self, request: web.Request) -> web.Response:
        try:
            job = self.jobs[int(request.match_info["id"])]
        except (KeyError, ValueError):
            return web.json_response({"error": "unknown_job"}, status=404)
        return await self._answer(job, request)

    async def _answer(self, job: Job, request: web.Request) -> web.Response:
        try:
            wait = min(max(float(request.query.get("wait", "0")), 0.0), MAX_WAIT)
        except ValueError:
            wait = 0.0
        if wait and not job.future.done():
            await asyncio.wait({job.future}, timeout=wait)  # never cancels the shared future
        answer: dict[str, Any] = {"job": job.id, "done": job.future.done()}
        if job.future.done():
            job.finished = job.finished or time.monotonic()
            exc = job.future.exception()
            if exc is None:
                answer["result"] = job.future.result()
            else:
                answer["error"] = describe_error(exc)
        return web.json_response(answer)

    async def handle_status(self, request: web.Request) -> web.Response:
        targets = await asyncio.to_thread(self._target_summaries)
        return web.json_response({
            "version": self.version, "pid": self.pid, "uptime": self.uptime(), "started_at": self.started_at,
            "queued": sum(t["queued"] for t in targets), "last_sync": self.last_sync,
            "last_error": self.last_error, "targets": targets,
        })

    def _target_summaries(self) -> list[dict[str, Any]]:
        """Per target: queued count from the durable queue (read in a thread: it is sqlite)."""
        from orchestrator.tracker import queue_summary

        rows = []
        now = time.monotonic()
        for target in list(self.targets.values()):
            key = target.key
            queued = 0
            with contextlib.suppress(Exception):  # a vanished repo or locked queue must not break status
                queued = queue_summary(key.facts())[0]
            rows.append({"repo_root": key.repo_root, "mission": key.mission, "queued": queued,
                         "last_result": target.last_result, "last_error": target.last_error,
                         "last_at": target.last_at, "next_in": round(max(target.due - now, 0.0), 1)})
        return rows

    async def handle_shutdown(self, request: web.Request) -> web.Response:
        log.info("shutdown requested")
        self.retire("shutdown requested")
        return web.json_response({"stopping": True, "pid": self.pid})

    def retire(self, reason: str) -> None:
        if not self.stopping.is_set():
            self.stop_reason = reason
            self.stopping.set()

    # --- syncing ------------------------------------------------------------------------------------
    def request_sync(self, target: Target) -> asyncio.Future[dict[str, Any]]:
        """The next run for this target; requests arriving before it starts share it."""
        if target.pending is None:
            target.pending = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._run_next(target))
        return target.pending

    async def _run_next(self, target: Target) -> None:
        async with target.lock:
            future, target.pending = target.pending, None
            assert future is not None
            target.running = True
            try:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self.executor, sync_blocking, target.key)
            except Exception as exc:  # reported to every waiter and in /status; the daemon carries on
                self._record_failure(target, exc)
                if not future.done():
                    future.set_exception(exc)
            else:
                self._record_success(target, result)
                if not future.done():
                    future.set_result(result)
            finally:
                target.running = False
        if not future.cancelled():
            future.exception()  # mark it retrieved: a background run nobody waits for must not warn

    def _record_success(self, target: Target, result: dict[str, Any]) -> None:
        target.last_at = datetime.now(UTC).isoformat(timespec="seconds")
        target.last_result = dict(result, time=target.last_at, mission=target.key.mission)
        target.last_error, target.failures = None, 0
        target.due = time.monotonic() + SYNC_INTERVAL
        self.last_sync = target.last_result
        log.info("synced %s: %s pushed, %s pulled, %s still queued", target.key.label(),
                 result.get("pushed"), result.get("pulled"), result.get("queued"))

    def _record_failure(self, target: Target, exc: BaseException) -> None:
        target.last_at = datetime.now(UTC).isoformat(timespec="seconds")
        target.last_error = dict(describe_error(exc), time=target.last_at, mission=target.key.mission)
        self.last_error = target.last_error
        if isinstance(exc, TargetGone):
            self.targets.pop(target.key, None)
            log.info("no longer syncing %s: %s", target.key.label(), exc)
            return
        target.failures += 1
        backoff = min(SYNC_INTERVAL * 2 ** (target.failures - 1), MAX_BACKOFF)
        target.due = time.monotonic() + backoff
        if isinstance(exc, SpecKittyError):
            log.warning("sync of %s failed (retry in %.0fs): %s", target.key.label(), backoff, exc)
        else:
            log.error("sync of %s crashed (retry in %.0fs)", target.key.label(), backoff, exc_info=exc)

    # --- housekeeping -------------------------------------------------------------------------------
    async def housekeeping(self) -> None:
        """Every tick: background syncs that are due, idle retirement, policy, self-checks."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), TICK)
            if self.stopping.is_set():
                return
            now = time.monotonic()
            for target in list(self.targets.values()):
                if not target.running and target.pending is None and target.due <= now:
                    self.request_sync(target)
            for job_id, job in list(self.jobs.items()):
                if job.future.done() and now - (job.finished or now) > JOB_TTL:
                    del self.jobs[job_id]
                elif job.future.done() and job.finished is None:
                    job.finished = now
            self._check_still_wanted(now)

    def _check_still_wanted(self, now: float) -> None:
        if not self.lock.still_ours() or read_state() != self.state:
            self.retire("its lock or state file was removed or replaced")
            return
        policy, idle_seconds = self._settings()
        if policy == "manual":
            self.retire("the policy is now manual")
        elif now - self.last_request >= idle_seconds and not any(t.running for t in self.targets.values()):
            self.retire(f"idle for {idle_seconds}s")

    def _settings(self) -> tuple[str, int]:
        """Policy and idle period, re-read so `config set` applies to a running daemon."""
        from orchestrator.config import DEFAULT_IDLE_SECONDS
        from orchestrator.errors import ConfigError
        from orchestrator.facts import LiveFacts

        facts = LiveFacts(cwd=Path.home())
        try:
            return facts.daemon_policy, facts.daemon_idle_seconds
        except (ConfigError, ValueError, TypeError):
            return "auto", DEFAULT_IDLE_SECONDS

    # --- lifecycle ----------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Bind, publish the state file (only now can clients reach us), run until retired, clean up."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.retire, f"signal {sig.name}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
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
            for job in self.jobs.values():  # waiting clients learn at once and go elsewhere
                if not job.future.done():
                    job.future.set_exception(Stopping(self.stop_reason))
                    job.future.exception()
            await runner.cleanup()
            busy = [t for t in self.targets.values() if t.running]
            if busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*(t.lock.acquire() for t in busy)), EXIT_GRACE)
            self.executor.shutdown(wait=False, cancel_futures=True)

    def remove_own_state(self) -> None:
        """Remove the state file only if it is still the one this process wrote."""
        if self.state is not None and read_state() == self.state:
            paths.daemon_state_file().unlink(missing_ok=True)


def setup_logging() -> None:
    """Rotating log file, created 0600; stdout and stderr are /dev/null in a detached daemon."""
    from orchestrator.daemon.logfile import PrivateRotatingFileHandler

    log_file = paths.daemon_log_file()
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = PrivateRotatingFileHandler(log_file, maxBytes=512 * 1024, backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s pid=%(process)d %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)

    def excepthook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        log.critical("daemon crashed", exc_info=(kind, exc, tb))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            log.error("thread %s crashed", args.thread, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def run(lock: DaemonLock) -> int:
    """Serve until retired; always remove our own files and release the lock on the way out."""
    setup_logging()
    daemon: Daemon | None = None
    try:
        async def main() -> None:
            nonlocal daemon
            daemon = Daemon(lock)
            await daemon.serve()

        asyncio.run(main())
        return 0
    except Exception:
        log.exception("daemon failed")
        return 1
    finally:
        if daemon is not None:
            daemon.remove_own_state()
        lock.release_and_remove()
        log.info("daemon exited")
        logging.shutdown()
        if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
            os._exit(0)  # an upload thread outlived the grace period; the queue is transactional
