"""The tracker endpoints, as the reference client calls them (``specify_cli/tracker/saas_client.py``).

Every call is ``/api/v1/tracker/<path>`` with the bearer and ``X-Team-Slug``; a write (bind-confirm,
push, run) carries an ``Idempotency-Key``, the same on each retry; a ``202`` is polled at
``operations/{operation_id}/`` to its result (``_operation``). Method by method:

=================  ====================================  ==================================
this client        request                               reference (``SaaSTrackerClient``)
=================  ====================================  ==================================
bind_resolve       POST bind-resolve/                    ``bind_resolve``
bind_confirm       POST bind-confirm/ (write)            ``bind_confirm``
bind_validate      POST bind-validate/                   ``bind_validate``
tracker_status     GET status/?provider=&<routing>       ``status``
tracker_pull       POST pull/                            ``pull``
tracker_push       POST push/ (write)                    ``push``
tracker_run        POST run/ (write, usually 202)        ``run``
=================  ====================================  ==================================
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

from orchestrator.saas.errors import DeadlinePassed, RequestFailed
from orchestrator.saas.transport import API, Transport
from states import catalog
from states.contract import one_line

TRACKER_API = f"{API}/tracker"
TRACKER_LIMIT = 100  # the reference client's default page
POLL_FIRST = 0.05  # seconds before the first poll of a 202's operation; doubling, capped
POLL_CAP = 2.0


class TrackerCalls(Transport):
    """The tracker endpoints of ``SaasClient`` (docs/api.md "Tracker")."""

    async def bind_resolve(self, team: str, provider: str, identity: dict[str, Any]) -> dict[str, Any]:
        """``POST bind-resolve/``: ``match_type`` exact (with ``binding_ref``), candidates, or none."""
        return await self._tracker("POST", "bind-resolve/", team, {"provider": provider, "project_identity": identity})

    async def bind_confirm(self, team: str, provider: str, candidate_token: str,
                           identity: dict[str, Any]) -> dict[str, Any]:
        """``POST bind-confirm/`` (a write): ``binding_ref``, ``display_label``, ``provider_context``, ..."""
        return await self._tracker("POST", "bind-confirm/", team, {
            "provider": provider, "candidate_token": candidate_token, "project_identity": identity}, write=True)

    async def bind_validate(self, team: str, provider: str, binding_ref: str,
                            identity: dict[str, Any]) -> dict[str, Any]:
        """``POST bind-validate/``: ``valid`` (and ``reason``/``guidance`` when not)."""
        return await self._tracker("POST", "bind-validate/", team, {
            "provider": provider, "binding_ref": binding_ref, "project_identity": identity})

    async def tracker_status(self, team: str, provider: str, routing: dict[str, str]) -> dict[str, Any]:
        """``GET status/?provider=&binding_ref=`` (or ``project_slug``)."""
        return await self._tracker("GET", "status/", team, params={"provider": provider, **routing})

    async def tracker_pull(self, team: str, provider: str, routing: dict[str, str], *, cursor: str | None,
                           limit: int = TRACKER_LIMIT, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST pull/``: the tracker's changes since ``cursor`` (``items``, ``next_cursor``, ``has_more``)."""
        body: dict[str, Any] = {"provider": provider, **routing, "limit": limit}
        if cursor is not None:
            body["cursor"] = cursor
        if filters is not None:
            body["filters"] = filters
        answer = await self._tracker("POST", "pull/", team, body)
        if not isinstance(answer.get("items", []), list):
            raise self._malformed("tracker pull")
        return answer

    async def tracker_push(self, team: str, provider: str, routing: dict[str, str],
                           items: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST push/`` (a write): one ``PushItem`` per change, one result per item."""
        return await self._tracker("POST", "push/", team, {"provider": provider, **routing, "items": items}, write=True)

    async def tracker_run(self, team: str, provider: str, routing: dict[str, str], *, pull_first: bool = True,
                          limit: int = TRACKER_LIMIT) -> dict[str, Any]:
        """``POST run/`` (a write): a whole cycle on the host's side; usually a 202, polled to its result."""
        return await self._tracker("POST", "run/", team, {
            "provider": provider, **routing, "pull_first": pull_first, "limit": limit}, write=True)

    async def _tracker(self, method: str, path: str, team: str, body: dict[str, Any] | None = None, *,
                       params: dict[str, str] | None = None, write: bool = False) -> dict[str, Any]:
        """One tracker call: bearer, ``X-Team-Slug``, an ``Idempotency-Key`` on a write (the same on each
        retry, so a retried write happens once); a 202 is polled at ``operations/{id}/`` to its result."""
        from urllib.parse import urlencode
        from uuid import uuid4

        headers = {"X-Team-Slug": team}
        if write:
            headers["Idempotency-Key"] = str(uuid4())
        full = f"{TRACKER_API}/{path}" + (f"?{urlencode(params)}" if params else "")
        answer = await self._json(method, full, body, headers=headers, idempotent=True)
        if self._last_status == 202:
            return await self._operation(team, answer)
        return answer

    async def _operation(self, team: str, accepted: dict[str, Any]) -> dict[str, Any]:
        """Poll ``operations/{id}/`` until ``completed`` (its ``result``) or ``failed``, within the deadline."""
        operation = accepted.get("operation_id")
        if not isinstance(operation, str) or not operation.strip():
            raise self._malformed("an asynchronous tracker call (no operation_id)")
        ends = time.monotonic() + self.deadline
        pause = POLL_FIRST
        path = f"{TRACKER_API}/operations/{quote(operation, safe='')}/"
        while True:
            answer = await self._json("GET", path, headers={"X-Team-Slug": team})
            state = answer.get("status")
            if state == "completed":
                result = answer.get("result", answer)
                return result if isinstance(result, dict) else {}
            if state == "failed":
                error = answer.get("error")
                words = error.get("message") if isinstance(error, dict) else error
                raise self._fail(RequestFailed(catalog.TRACKER_OPERATION_FAILED.format(
                    operation=one_line(operation, 80), url=self.base_url,
                    message=one_line(str(words or "no reason given")))))
            if state not in ("pending", "running"):
                raise self._malformed("a tracker operation")
            if time.monotonic() + pause >= ends:
                raise self._fail(DeadlinePassed(catalog.SYNC_DEADLINE.filled(url=self.base_url,
                                                                             seconds=self.deadline)._replace(
                    message=catalog.TRACKER_OPERATION_LATE.format(operation=one_line(operation, 80),
                                                                  url=self.base_url, seconds=self.deadline))))
            await asyncio.sleep(pause)
            pause = min(pause * 2, POLL_CAP)
