"""The daemon's control API: an aiohttp application on loopback, guarded by the per-run secret.

Every endpoint needs ``Authorization: Bearer <secret from the state file>``, else 401; while the
daemon retires everything but health answers 503.

- ``GET /health`` → ``{"status": "ok"|"stopping", "version", "pid", "uptime", "started_at"}``
- ``POST /sync?wait=S`` body ``{"repo_root", "mission", "saas_url"}`` → ``{"job", "done", "result"|"error"}``;
  the daemon gathers the facts (token, host, binding) itself, the client sends no credentials.
- ``GET /jobs/<id>?wait=S`` → the same shape; clients poll in short steps so a dead daemon shows fast.
- ``GET /status`` → ``{"version", "pid", "uptime", "queued", "last_sync", "last_error", "targets": [...]}``
- ``POST /shutdown`` → ``{"stopping": true}``; the daemon then removes its own state and lock files.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any, Protocol

from aiohttp import web

from orchestrator.daemon.jobs import Job, JobRegistry
from orchestrator.daemon.scheduler import Scheduler
from orchestrator.daemon.targets import TargetKey

log = logging.getLogger("spec_kitty.daemon")


class Steered(Protocol):
    """What the API reads and steers of the daemon process (``server.Daemon``). Named here, not
    imported from ``server``, so the API depends on the daemon's shape and ``server`` alone on the API."""

    pid: int
    secret: str
    version: str
    started_at: str
    stopping: asyncio.Event
    jobs: JobRegistry
    scheduler: Scheduler

    def uptime(self) -> float: ...
    def sync_requested(self, key: TargetKey) -> Job: ...
    def retire(self, reason: str) -> None: ...


class ControlApi:
    """The handlers, reading and steering one ``Daemon``."""

    def __init__(self, daemon: Steered) -> None:
        self.daemon = daemon

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
        if not hmac.compare_digest(given, f"Bearer {self.daemon.secret}".encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.daemon.stopping.is_set() and request.path != "/health":
            return web.json_response({"error": "stopping"}, status=503)
        return await handler(request)

    async def handle_health(self, request: web.Request) -> web.Response:
        daemon = self.daemon
        return web.json_response({"status": "stopping" if daemon.stopping.is_set() else "ok",
                                  "version": daemon.version, "pid": daemon.pid, "uptime": daemon.uptime(),
                                  "started_at": daemon.started_at})

    async def handle_sync(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            key = TargetKey(str(body["repo_root"]), str(body["mission"]), str(body.get("saas_url") or ""))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "bad_request"}, status=400)
        job = self.daemon.sync_requested(key)
        return await self._answer(job, request)

    async def handle_job(self, request: web.Request) -> web.Response:
        try:
            job = self.daemon.jobs.get(int(request.match_info["id"]))
        except (KeyError, ValueError):
            return web.json_response({"error": "unknown_job"}, status=404)
        return await self._answer(job, request)

    async def _answer(self, job: Job, request: web.Request) -> web.Response:
        try:
            wait = float(request.query.get("wait", "0"))
        except ValueError:
            wait = 0.0
        return web.json_response(await self.daemon.jobs.answer(job, wait))

    async def handle_status(self, request: web.Request) -> web.Response:
        daemon = self.daemon
        targets = await asyncio.to_thread(daemon.scheduler.summaries)
        return web.json_response({
            "version": daemon.version, "pid": daemon.pid, "uptime": daemon.uptime(),
            "started_at": daemon.started_at, "queued": sum(t["queued"] for t in targets),
            "last_sync": daemon.scheduler.last_sync, "last_error": daemon.scheduler.last_error,
            "targets": targets,
        })

    async def handle_shutdown(self, request: web.Request) -> web.Response:
        log.info("shutdown requested")
        self.daemon.retire("shutdown requested")
        return web.json_response({"stopping": True, "pid": self.daemon.pid})
