"""The daemon's job registry: sync requests that clients wait for by polling.

A client never holds one long request open: it asks for a job and polls it in short steps, so a
daemon that died is noticed within seconds. Finished jobs stay fetchable for ``JOB_TTL`` seconds;
when the daemon retires, every unfinished job fails at once with ``Stopping`` so waiting clients go
elsewhere instead of reporting a failure.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.daemon.targets import TargetKey
from orchestrator.errors import CatalogFailure, SpecKittyError

MAX_WAIT = 5.0  # longest a control request holds its answer back waiting for a sync result
JOB_TTL = 300.0  # how long a finished job's result stays fetchable


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


@dataclass
class Job:
    """A sync request a client is waiting for (clients poll it, so a dead daemon is noticed fast)."""

    id: int
    target: TargetKey
    future: asyncio.Future[dict[str, Any]]
    finished: float | None = None


class JobRegistry:
    """Jobs by id, answered in the shape ``{"job", "done", "result"|"error"}``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)

    def add(self, key: TargetKey, future: asyncio.Future[dict[str, Any]]) -> Job:
        job = Job(next(self._ids), key, future)
        self.jobs[job.id] = job
        return job

    def get(self, job_id: int) -> Job:
        """The job with this id; raises KeyError when unknown or expired."""
        return self.jobs[job_id]

    async def answer(self, job: Job, wait: float) -> dict[str, Any]:
        """The job's answer, after waiting up to ``wait`` seconds (capped at ``MAX_WAIT``) for it to finish."""
        wait = min(max(wait, 0.0), MAX_WAIT)
        if wait and not job.future.done():
            await asyncio.wait({job.future}, timeout=wait)  # never cancels the shared future
        answer: dict[str, Any] = {"job": job.id, "done": job.future.done()}
        if job.future.done():
            job.finished = job.finished or self.clock()
            exc = job.future.exception()
            if exc is None:
                answer["result"] = job.future.result()
            else:
                answer["error"] = describe_error(exc)
        return answer

    def expire(self, now: float) -> None:
        """Forget finished jobs older than ``JOB_TTL``; start the clock on newly finished ones."""
        for job_id, job in list(self.jobs.items()):
            if job.future.done() and now - (job.finished or now) > JOB_TTL:
                del self.jobs[job_id]
            elif job.future.done() and job.finished is None:
                job.finished = now

    def abandon(self, reason: str) -> None:
        """Fail every unfinished job with ``Stopping``: waiting clients learn at once and go elsewhere."""
        for job in self.jobs.values():
            if not job.future.done():
                job.future.set_exception(Stopping(reason))
                job.future.exception()
