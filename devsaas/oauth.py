"""The Spec Kitty SaaS's login and identity endpoints, as spec-kitty-cli 3.2.7 speaks them.

``POST /oauth/device``, ``POST /oauth/token`` (device and refresh grants), ``POST /oauth/revoke``:
form-encoded requests, JSON answers, errors in RFC 6749's ``{"error", "error_description"}``.
``GET /api/v1/me`` and ``GET /api/v1/session-status``: bearer. docs/api.md cites, for each answer, the
reference client's source that reads it; what the reference leaves open is marked there as this
server's choice (team slugs, the refresh grace window, slow_down's trigger).

A session is the store's grant: ``session_id`` names it, refresh rotates inside it, revoke ends it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from devsaas.api import (
    CONFIG,
    DEFAULT_LOGIN,
    POLLS,
    STORE,
    OAuthError,
    caller,
    form_fields,
    now,
)
from devsaas.store import IssuedToken, iso

log = logging.getLogger("spec_kitty.devsaas")

CLIENT_ID = "cli_native"  # specify_cli/auth/flows/device_code.py, refresh.py: _DEFAULT_CLIENT_ID
SCOPE = "offline_access"  # specify_cli/auth/flows/device_code.py: _DEFAULT_SCOPE
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SHARED_TEAM = "dev-team"  # this server's choice: the one shared team every login belongs to


def _client(fields: dict[str, str]) -> None:
    """RFC 6749 §5.2: an unknown (or missing) client is 401 ``invalid_client``."""
    if fields.get("client_id") != CLIENT_ID:
        raise OAuthError(401, "invalid_client", f"client_id must be {CLIENT_ID!r}")


def _required(fields: dict[str, str], key: str) -> str:
    value = fields.get(key, "")
    if not value:
        raise OAuthError(400, "invalid_request", f"{key!r} is required")
    return value


def token_answer(token: IssuedToken, at: float) -> dict[str, Any]:
    """The success body of both grants (fields read in specify_cli/auth/flows/device_code.py
    ``_build_session`` and refresh.py ``_update_session``; ``session_id`` is required by the former)."""
    return {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": max(0, round(token.expires_at - at)),
        "refresh_token": token.refresh_token,
        "refresh_token_expires_in": max(0, round(token.refresh_expires_at - at)),
        "refresh_token_expires_at": iso(token.refresh_expires_at),
        "session_id": token.session_id,
        "scope": SCOPE,
    }


async def oauth_device(request: web.Request) -> web.Response:
    """RFC 8628 §3.1-3.2: a device code, born approved under ``--auto-approve``."""
    fields = await form_fields(request)
    _client(fields)
    scope = fields.get("scope") or SCOPE
    if scope != SCOPE:
        raise OAuthError(400, "invalid_scope", f"the only scope is {SCOPE!r}")
    config = request.app[CONFIG]
    code = request.app[STORE].create_device_code(
        config.device_expiry, now(request), DEFAULT_LOGIN if config.auto_approve else None
    )
    verification_uri = f"{request.scheme}://{request.host}/device"
    log.info("device code %s created (%s)", code.user_code, code.status)
    return web.json_response({
        "device_code": code.device_code,
        "user_code": code.user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": f"{verification_uri}?user_code={code.user_code}",
        "expires_in": config.device_expiry,
        "interval": config.poll_interval,
    })


async def oauth_token(request: web.Request) -> web.Response:
    fields = await form_fields(request)
    grant_type = _required(fields, "grant_type")
    if grant_type == DEVICE_GRANT:
        _client(fields)
        return _device_grant(request, _required(fields, "device_code"))
    if grant_type == "refresh_token":
        _client(fields)
        return _refresh_grant(request, _required(fields, "refresh_token"))
    raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not served here")


def _device_grant(request: web.Request, device_code: str) -> web.Response:
    """One poll (RFC 8628 §3.4-3.5). A pending code polled sooner than ``interval`` after the previous
    poll answers ``slow_down`` instead of ``authorization_pending``."""
    at = now(request)
    config = request.app[CONFIG]
    outcome, token = request.app[STORE].redeem_device_code(device_code, at, config.token_ttl,
                                                           refresh_ttl=config.refresh_ttl)
    polls = request.app[POLLS]
    if token is None:
        if outcome == "authorization_pending":
            previous = polls.get(device_code)
            polls[device_code] = at
            if previous is not None and at - previous < config.poll_interval:
                outcome = "slow_down"
        raise OAuthError(400, outcome)
    polls.pop(device_code, None)
    log.info("device login completed for %s (session %s)", token.login, token.session_id)
    return web.json_response(token_answer(token, at))


def _refresh_grant(request: web.Request, refresh_token: str) -> web.Response:
    at = now(request)
    config = request.app[CONFIG]
    result = request.app[STORE].refresh(refresh_token, at, config.token_ttl, grace=config.refresh_grace,
                                        refresh_ttl=config.refresh_ttl)
    if result.outcome == "replay":
        # specify_cli/auth/flows/refresh.py: 409 + this error means "re-read the stored session, retry".
        raise OAuthError(409, "refresh_replay_benign_retry",
                         "this refresh token was just rotated; use the pair the other request received")
    if result.token is None:
        raise OAuthError(400, "invalid_grant", "refresh token unknown, expired, already used or revoked")
    return web.json_response(token_answer(result.token, at))


async def oauth_revoke(request: web.Request) -> web.Response:
    """RFC 7009: ends the whole session of an access or refresh token; no client authentication.

    An unknown token answers 200 too (RFC 7009 §2.2: the token is invalid either way); the body is
    what specify_cli/auth/flows/revoke.py accepts as "revoked": ``{"revoked": true}``.
    """
    fields = await form_fields(request)
    token = _required(fields, "token")
    known = request.app[STORE].revoke(token, now(request))
    log.info("revoke: %s", "session ended" if known else "unknown token")
    return web.json_response({"revoked": True})


def teams(login: str) -> list[dict[str, Any]]:
    """A private team (sync ingress needs it: specify_cli/auth/session.py ``require_private_team_id``)
    and one shared team (the reference tracker needs exactly one non-private team). Slugs are this
    server's choice; ``id`` equals ``slug``, as specify_cli/auth/flows/_session_payload.py treats them."""
    private = f"{login}-private"
    return [
        {"id": private, "name": f"{login} (private)", "role": "owner", "slug": private,
         "is_private_teamspace": True},
        {"id": SHARED_TEAM, "name": "Dev Team", "role": "member", "slug": SHARED_TEAM,
         "is_private_teamspace": False},
    ]


async def me(request: web.Request) -> web.Response:
    """``user_id`` is the email: the reference tracker compares the account it admitted a project
    with (the email) against ``user_id`` (shared/spec/saas-protocol.md, observed)."""
    principal = caller(request)
    return web.json_response({
        "user_id": principal.email,
        "email": principal.email,
        "name": principal.login,
        "teams": teams(principal.login),
    })


async def session_status(request: web.Request) -> web.Response:
    """200 while the session lives (specify_cli/cli/commands/_auth_doctor.py reads ``session_id``);
    a revoked or expired one is the bearer check's 401."""
    principal = caller(request)
    return web.json_response({
        "active": True,
        "session_id": principal.session_id,
        "access_token_expires_at": iso(principal.expires_at),
    })
