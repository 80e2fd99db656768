"""Device approval rules shared by every door, and the OLD auth endpoints.

Old protocol, removed when the client switches: ``/api/v1/auth/device/code``, ``/api/v1/auth/device/token``,
``/api/v1/auth/token/refresh``, ``/api/v1/auth/revoke`` and ``/api/v1/whoami`` are this project's own
paths, which the hosted Spec Kitty SaaS does not serve; ``devsaas/oauth.py`` serves its real ones. What
stays after the switch is ``normalize_user_code`` and ``decide_device`` (the verification page and the
admin approve endpoint use them for both protocols).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from devsaas.api import (
    CONFIG,
    DEFAULT_LOGIN,
    STORE,
    ApiError,
    authenticate,
    body_field,
    json_object,
    now,
)
from devsaas.store import IssuedToken, Store, iso

log = logging.getLogger("spec_kitty.devsaas")


def normalize_user_code(value: str) -> str:
    """Accept what a human types: lower case, spaces, missing dash."""
    compact = re.sub(r"[\s-]", "", value).upper()
    return f"{compact[:4]}-{compact[4:]}" if len(compact) == 8 else compact


def token_body(token: IssuedToken, at: float) -> dict[str, Any]:
    return {
        "access_token": token.access_token,
        "token_type": "bearer",
        "expires_in": max(0, round(token.expires_at - at)),
        "expires_at": iso(token.expires_at),
        "refresh_token": token.refresh_token,
        "user": {"login": token.login, "email": token.email},
    }


def decide_device(store: Store, user_code: str, login: str, approve: bool, at: float) -> None:
    """Shared by the HTML form and the admin endpoint so both enforce the same rules."""
    code = store.device_by_user_code(normalize_user_code(user_code))
    if code is None:
        raise ApiError(404, "not_found", f"no device code {user_code!r}")
    if at >= code.expires_at:
        raise ApiError(400, "expired_token", f"device code {code.user_code} has expired")
    if code.status == "pending":
        store.decide_device(code.device_code, login if approve else None, approve)
        log.info("device code %s %s for %s", code.user_code, "approved" if approve else "denied", login)
        return
    # Repeating the decision already taken is a no-op; reversing it is refused.
    already_approved = code.status in ("approved", "consumed")
    if already_approved != approve:
        raise ApiError(409, "conflict", f"device code {code.user_code} was already {code.status}")


async def device_code(request: web.Request) -> web.Response:
    await json_object(request, optional=True)  # client_id is accepted and ignored
    config = request.app[CONFIG]
    code = request.app[STORE].create_device_code(
        config.device_expiry, now(request), DEFAULT_LOGIN if config.auto_approve else None
    )
    verification_uri = f"{request.scheme}://{request.host}/device"
    log.info("device code %s created (%s)", code.user_code, code.status)
    return web.json_response(
        {
            "device_code": code.device_code,
            "user_code": code.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={code.user_code}",
            "expires_in": config.device_expiry,
            "interval": config.poll_interval,
        }
    )


async def device_token(request: web.Request) -> web.Response:
    body = await json_object(request)
    code = body_field(body, "device_code", str)
    at = now(request)
    config = request.app[CONFIG]
    outcome, token = request.app[STORE].redeem_device_code(code, at, config.token_ttl, refresh_ttl=config.refresh_ttl)
    if token is None:
        return ApiError(400, outcome).response()
    log.info("device login completed for %s", token.login)
    return web.json_response(token_body(token, at))


async def token_refresh(request: web.Request) -> web.Response:
    """Rotate: an unused refresh token of a live grant buys a new access and refresh token."""
    body = await json_object(request)
    at = now(request)
    token = request.app[STORE].refresh(body_field(body, "refresh_token", str), at, request.app[CONFIG].token_ttl,
                                       refresh_ttl=request.app[CONFIG].refresh_ttl).token
    if token is None:  # the old protocol has no grace window: a used token is simply invalid
        raise ApiError(400, "invalid_grant", "refresh token unknown, used or revoked")
    return web.json_response(token_body(token, at))


async def token_revoke(request: web.Request) -> web.Response:
    """RFC 7009: form-encoded ``token`` (+ optional ``token_type_hint``); 200 even for an unknown token."""
    form = await request.post()
    token = form.get("token")
    if not isinstance(token, str) or not token.strip():
        raise ApiError(400, "invalid_request", "'token' is required")
    request.app[STORE].revoke(token.strip(), now(request))
    return web.json_response({})


async def whoami(request: web.Request) -> web.Response:
    login, email, expires_at = authenticate(request)
    return web.json_response({"login": login, "email": email, "expires_at": iso(expires_at)})
