"""The SaaS client (docs/api.md): ``SaasClient`` and ``run_with_client``, the one way code talks to the host.

``SaasClient`` is one object made of the transport (``transport``: session, deadlines, retries,
refresh-on-401) and the endpoints, each module checkable against one part of the reference client
(spec-kitty-cli 3.2.7):

- here, OAuth and identity: ``auth/flows/device_code.py``, ``refresh.py``, ``revoke.py``, ``auth/http/me_fetch.py``;
- ``events``: the events batch (``delivery/receivers.py``);
- ``tracker``: ``/api/v1/tracker/*`` (``tracker/saas_client.py``);
- ``errors``: what each refusal becomes (cheap to import: a failure path catches them without aiohttp).

Only commands that go remote import this module (it imports aiohttp).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from orchestrator.saas.events import EventCalls
from orchestrator.saas.tracker import TrackerCalls
from orchestrator.saas.transport import API
from orchestrator.sessions.store import Credentials

CLIENT_ID = "cli_native"  # the reference client's OAuth client (auth/config.py)
OAUTH_SCOPE = "offline_access"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

T = TypeVar("T")


class SaasClient(EventCalls, TrackerCalls):
    """``async with SaasClient(url, token) as client: await client.me()``."""

    # --- OAuth (form-encoded, never the bearer) and identity ----------------------------------------
    async def device_code(self) -> dict[str, Any]:
        """RFC 8628 step 1 (``auth/flows/device_code.py``); mints a new code each time, so never retried
        unless the request provably never left."""
        return await self._json("POST", "/oauth/device", form={"client_id": CLIENT_ID, "scope": OAUTH_SCOPE},
                                auth=False, idempotent=False)

    async def device_token(self, device_code: str) -> dict[str, Any]:
        """The token once approved; raises a ``DeviceFlowError`` subclass while it is not."""
        return await self._json("POST", "/oauth/token", form={
            "grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": CLIENT_ID}, auth=False)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """The refresh grant (``auth/flows/refresh.py``): a new access token, usually a new refresh token."""
        return await self._json("POST", "/oauth/token", form={
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}, auth=False)

    async def revoke(self, token: str, hint: str) -> dict[str, Any]:
        """RFC 7009 (``auth/flows/revoke.py``): the whole session ends; the answer is ``{"revoked": true}``."""
        return await self._json("POST", "/oauth/revoke", form={"token": token, "token_type_hint": hint}, auth=False)

    async def me(self) -> dict[str, Any]:
        """Who the token belongs to, and the teams (``GET /api/v1/me``)."""
        return await self._json("GET", f"{API}/me")


def run_with_client(base_url: str, token: str | Credentials | None, fn: Callable[[SaasClient], Awaitable[T]],
                    **options: Any) -> T:
    """Run ``fn(client)`` to completion in its own event loop, with a client opened and closed around it.

    The one way synchronous code (a command, the daemon's worker thread) talks to the host: ``token``
    goes to ``SaasClient`` unchanged, so a session still reaches only its own origin; ``options`` are
    the client's (``retries``, ``timeout``, ...).
    """

    async def run() -> T:
        async with SaasClient(base_url, token, **options) as client:
            return await fn(client)

    return asyncio.run(run())
