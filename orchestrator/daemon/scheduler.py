"""The daemon's sync scheduler: one run at a time per target, coalesced, retried with backoff.

- *Responsive while busy*: a sync runs in a worker thread (``run_sync`` owns its own event loop), so
  the control server answers health and status during a long upload.
- *Coalesced*: concurrent sync requests for one target share the next run instead of queueing many
  identical uploads.
- *Never silently stuck*: every target is synced again every ``SYNC_INTERVAL`` seconds, with
  exponential backoff up to ``MAX_BACKOFF`` while it fails; the last result and error stay visible.
- *No secrets in logs*: targets are logged by project and mission; the token lives only inside the
  ``SyncTarget`` that ``run_sync`` receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from orchestrator.daemon.jobs import describe_error
from orchestrator.daemon.targets import Target, TargetGone, TargetKey, sync_blocking
from orchestrator.errors import SpecKittyError

log = logging.getLogger("spec_kitty.daemon")

SYNC_INTERVAL = 30.0  # background sync of every known target while things are fine
MAX_BACKOFF = 600.0  # longest pause between attempts while the host is down


class Scheduler:
    """Known targets, their next due time, and the worker pool their syncs run in."""

    def __init__(self, sync: Callable[[TargetKey], dict[str, Any]] = sync_blocking,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sync = sync
        self.clock = clock
        self.targets: dict[TargetKey, Target] = {}
        self.last_sync: dict[str, Any] | None = None
        self.last_error: dict[str, Any] | None = None
        # Our own pool, not asyncio's default one: asyncio.run() would wait for an upload to finish
        # before returning, while a retiring daemon grants it only a short grace period.
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sync")

    def target(self, key: TargetKey) -> Target:
        """The target for this key, known from now on (synced in the background until it is gone)."""
        target = self.targets.get(key)
        if target is None:
            target = self.targets[key] = Target(key)
            log.info("now keeping %s in sync", key.label())
        return target

    def request_sync(self, target: Target) -> asyncio.Future[dict[str, Any]]:
        """The next run for this target; requests arriving before it starts share it."""
        if target.pending is None:
            target.pending = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._run_next(target))
        return target.pending

    def start_due(self, now: float) -> None:
        """Start a background run for every idle target whose time has come."""
        for target in list(self.targets.values()):
            if not target.running and target.pending is None and target.due <= now:
                self.request_sync(target)

    def busy(self) -> list[Target]:
        return [t for t in self.targets.values() if t.running]

    async def _run_next(self, target: Target) -> None:
        async with target.lock:
            future, target.pending = target.pending, None
            assert future is not None
            target.running = True
            try:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self.executor, self.sync, target.key)
            except Exception as exc:  # noqa: BLE001 - reported to every waiter and in /status; the daemon carries on
                self.record_failure(target, exc)
                if not future.done():
                    future.set_exception(exc)
            else:
                self.record_success(target, result)
                if not future.done():
                    future.set_result(result)
            finally:
                target.running = False
        if not future.cancelled():
            future.exception()  # mark it retrieved: a background run nobody waits for must not warn

    def record_success(self, target: Target, result: dict[str, Any]) -> None:
        target.last_at = datetime.now(UTC).isoformat(timespec="seconds")
        target.last_result = dict(result, time=target.last_at, mission=target.key.mission)
        target.last_error, target.failures = None, 0
        target.due = self.clock() + SYNC_INTERVAL
        self.last_sync = target.last_result
        log.info("synced %s: %s pushed, %s pulled, %s still queued", target.key.label(),
                 result.get("pushed"), result.get("pulled"), result.get("queued"))

    def record_failure(self, target: Target, exc: BaseException) -> None:
        target.last_at = datetime.now(UTC).isoformat(timespec="seconds")
        target.last_error = dict(describe_error(exc), time=target.last_at, mission=target.key.mission)
        self.last_error = target.last_error
        if isinstance(exc, TargetGone):
            self.targets.pop(target.key, None)
            log.info("no longer syncing %s: %s", target.key.label(), exc)
            return
        target.failures += 1
        backoff = min(SYNC_INTERVAL * 2 ** (target.failures - 1), MAX_BACKOFF)
        target.due = self.clock() + backoff
        if isinstance(exc, SpecKittyError):
            log.warning("sync of %s failed (retry in %.0fs): %s", target.key.label(), backoff, exc)
        else:
            log.error("sync of %s crashed (retry in %.0fs)", target.key.label(), backoff, exc_info=exc)

    def summaries(self) -> list[dict[str, Any]]:
        """Per target: queued count from the durable queue (call it in a thread: it reads sqlite)."""
        from orchestrator.sync.outbox import queue_summary

        rows = []
        now = self.clock()
        for target in list(self.targets.values()):
            key = target.key
            queued = 0
            with contextlib.suppress(Exception):  # a vanished repo or locked queue must not break status
                queued = queue_summary(key.ref())[0]
            rows.append({"repo_root": key.repo_root, "mission": key.mission, "queued": queued,
                         "last_result": target.last_result, "last_error": target.last_error,
                         "last_at": target.last_at, "next_in": round(max(target.due - now, 0.0), 1)})
        return rows
