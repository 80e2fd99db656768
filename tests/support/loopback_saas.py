"""The real dev SaaS app, in-process on loopback, behind a small fault-injection middleware.

Unit tests of the sync engine run against the application the dev SaaS serves (its store, its
binding check, its origin rules), not against a stand-in that agrees with whatever the client does.
The middleware adds only what a healthy server never does on its own: answer 5xx or 429, drop the
connection after storing a batch, stall a response body, or withhold an acknowledgement. It also
records what crossed the wire (upload bodies, tracker-sync requests) for assertions.

The server runs on an event loop in a thread of its own, so ``run_sync`` can own the test's loop.
The store's sqlite connection belongs to that thread; ``call`` runs a store query there.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from devsaas.api import STORE
from devsaas.app import make_app
from devsaas.store import Store

T = TypeVar("T")


@dataclass
class Faults:
    """What the server should get wrong, request by request. Every field defaults to "nothing"."""

    fail_uploads_from: int | None = None  # answer 500 to the Nth upload (0-based) and every later one
    busy_uploads: int = 0  # answer this many uploads with 429 ``Retry-After: 0`` before serving them
    lose_answers: int = 0  # store this many uploads, then drop the connection instead of answering
    withhold_acks: set[str] = field(default_factory=set)  # log rows (event ids) stored but never answered
    stall_bodies: bool = False  # send headers, then never finish the body (until the server stops)
    refuse_uploads_from: int | None = None  # answer 400 to the Nth upload (0-based) and every later one


class LoopbackSaas:
    """A running dev SaaS app: ``url``, its ``faults``, and what it received."""

    def __init__(self, db: Path, *, device_expiry: int = 600, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock  # the server's time; a test passes its own to move it by hand
        self.device_expiry = device_expiry
        self.faults = Faults()
        self.uploads: list[str] = []  # upload bodies the server accepted, as received
        self.sent: Counter[str] = Counter()  # event id -> how many accepted uploads carried it
        self.syncs: list[dict[str, Any]] = []  # tracker pull/push request bodies, each with its "route"
        self.binding_ref = ""
        self.url = ""
        self.token = ""  # the last token ``issue_token`` minted
        self._uploads_seen = 0
        self._loop = asyncio.new_event_loop()
        self._released = asyncio.Event()
        self._app: web.Application | None = None

    # --- what tests call ---------------------------------------------------------------------------
    def call(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn(store)`` on the server's thread (the store's sqlite connection lives there)."""
        async def run() -> T:
            assert self._app is not None
            return fn(self._app[STORE])

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def issue_token(self, login: str = "dev") -> str:
        self.token = self.call(lambda store: store.issue_token(login, 3600, time.time()).access_token)
        return self.token

    def bind(self, project_uuid: str, project_slug: str) -> str:
        """Bind the project to the built-in tracker's resource, as bind-confirm would; its binding_ref."""
        from devsaas.trackerstore import DEFAULT_RESOURCE, PROVIDER

        binding = self.call(lambda store: store.tracker.bind(PROVIDER, DEFAULT_RESOURCE, project_uuid, project_slug,
                                                             "dev-team", time.time()))
        self.binding_ref = binding.binding_ref
        return self.binding_ref

    def remote_change(self, mission: str, wp_id: str, lane: str) -> int:
        """A lane changed on the tracker side; returns its change sequence number."""
        return self.call(lambda store: store.tracker.set_lane(self.binding_ref, mission, wp_id, lane, time.time()))

    def stored(self, project_uuid: str, mission: str) -> list[dict[str, Any]]:
        """Envelopes of one mission the server stored, in arrival order, as received."""
        bodies = self.call(lambda store: store.envelopes.bodies(project_uuid=project_uuid))
        return [e for e in map(json.loads, bodies) if e.get("payload", {}).get("mission_slug") == mission]

    def issues(self, mission: str) -> dict[str, dict[str, object]]:
        return self.call(lambda store: store.tracker.issues(self.binding_ref, mission))

    # --- the middleware ----------------------------------------------------------------------------
    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        route = request.match_info.route.name
        if route in ("tracker_pull", "tracker_push"):
            self.syncs.append({"route": route, **json.loads(await request.read())})
        if route != "events_batch":
            return await self._maybe_stall(request, await handler(request))
        index, self._uploads_seen = self._uploads_seen, self._uploads_seen + 1
        faults = self.faults
        if faults.busy_uploads:
            faults.busy_uploads -= 1
            return web.json_response({"error": "rate_limited", "detail": "slow down"}, status=429,
                                     headers={"Retry-After": "0"})
        if faults.fail_uploads_from is not None and index >= faults.fail_uploads_from:
            return web.json_response({"error": "internal", "detail": "injected"}, status=500)
        if faults.refuse_uploads_from is not None and index >= faults.refuse_uploads_from:
            return web.json_response({"error": "bad_request", "detail": "injected"}, status=400)
        text = (await request.read()).decode("utf-8")
        response = await handler(request)
        causes = {e["event_id"]: e.get("causation_id") for e in json.loads(text)["events"]}
        if response.status == 200:
            self.uploads.append(text)
            self.sent.update(str(cause) for cause in causes.values())  # counted by the log row's event id
        if faults.lose_answers:
            faults.lose_answers -= 1
            assert request.transport is not None
            request.transport.close()  # stored, but the client never hears about it
            return response
        if faults.withhold_acks and isinstance(response, web.Response) and response.body is not None:
            answer = json.loads(response.body)  # type: ignore[arg-type]
            answer["results"] = [r for r in answer["results"] if causes.get(r["event_id"]) not in faults.withhold_acks]
            return web.json_response(answer)
        return await self._maybe_stall(request, response)

    async def _maybe_stall(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        if not self.faults.stall_bodies:
            return response
        stalled = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                          "Content-Length": "1000"})
        await stalled.prepare(request)
        await stalled.write(b'{"results": [')
        await self._released.wait()  # until the test ends: the client's own timeout must fire
        return stalled

    # --- lifecycle ---------------------------------------------------------------------------------
    def serve(self) -> Iterator[LoopbackSaas]:
        """Start on 127.0.0.1 (one stable URL: the queue keys missions by host), stop when done."""
        async def start() -> web.AppRunner:
            self._released = asyncio.Event()
            self._app = make_app(Store(self.db), auto_approve=False, device_expiry=self.device_expiry,
                                 clock=self.clock)
            self._app.middlewares.insert(0, self._faults)
            runner = web.AppRunner(self._app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            return runner

        thread = threading.Thread(target=self._loop.run_forever, name="loopback-saas", daemon=True)
        thread.start()
        runner = asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=30)
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"

        async def stop() -> None:
            self._released.set()
            await runner.cleanup()
            assert self._app is not None
            self._app[STORE].close()

        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(timeout=30)
            self._loop.close()
