"""Admin endpoints: what a test or an operator on this machine uses to mint, grant, approve and look.

No auth: the middleware lets them answer only to loopback clients.
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from devsaas.api import (
    CONFIG,
    DEFAULT_LOGIN,
    FAULTS,
    REQUESTS,
    STORE,
    ApiError,
    Fault,
    body_field,
    json_object,
    now,
    valid_name,
)
from devsaas.auth import decide_device
from devsaas.store import iso


async def admin_token_issue(request: web.Request) -> web.Response:
    """A real session without the device flow: its tokens work on every route, ``session_id`` included."""
    body = await json_object(request, optional=True)
    login = valid_name(body_field(body, "login", str, default=DEFAULT_LOGIN), "login")
    expires_in = body_field(body, "expires_in", int, default=3600)  # <= 0 mints an expired token, for tests
    email = body_field(body, "email", str, default=None)
    at = now(request)
    token = request.app[STORE].issue_token(login, expires_in, at, email, refresh_ttl=request.app[CONFIG].refresh_ttl)
    return web.json_response({"access_token": token.access_token, "refresh_token": token.refresh_token,
                              "expires_at": iso(token.expires_at), "session_id": token.session_id,
                              "refresh_token_expires_at": iso(token.refresh_expires_at)}, status=201)


async def admin_project_grant(request: web.Request) -> web.Response:
    project = valid_name(request.match_info["project"], "project")
    login = valid_name(body_field(await json_object(request), "login", str), "login")
    request.app[STORE].grant_project(project, login, now(request))
    return web.Response(status=204)


async def admin_token_revoke(request: web.Request) -> web.Response:
    body = await json_object(request)
    request.app[STORE].revoke_token(body_field(body, "access_token", str), now(request))
    return web.Response(status=204)


async def admin_device_approve(request: web.Request) -> web.Response:
    body = await json_object(request)
    login = valid_name(body_field(body, "login", str, default=DEFAULT_LOGIN), "login")
    decide_device(request.app[STORE], body_field(body, "user_code", str), login, True, now(request))
    return web.Response(status=204)


async def admin_stats(request: web.Request) -> web.Response:
    """What the server holds (envelopes, artifact bodies, tracker bindings) and ``requests`` per route name."""
    store = request.app[STORE]
    return web.json_response({"envelopes": store.envelopes.count(), "dossier_bodies": store.envelopes.body_count(),
                              "bindings": store.binding_count(),
                              "requests": dict(sorted(request.app[REQUESTS].items()))})


# -- the Spec Kitty SaaS protocol's test surface (this server's own: the hosted SaaS has none) ----------

async def admin_envelopes(request: web.Request) -> web.Response:
    """Envelopes as received, in arrival order, narrowed by ``project_uuid``, ``event_type``, ``aggregate_id``."""
    query = request.query
    bodies = request.app[STORE].envelopes.bodies(
        project_uuid=query.get("project_uuid"), event_type=query.get("event_type"),
        aggregate_id=query.get("aggregate_id"))
    text = '{"events":[' + ",".join(bodies) + '],"count":' + str(len(bodies)) + "}"
    return web.Response(text=text, content_type="application/json")


async def admin_sessions(request: web.Request) -> web.Response:
    return web.json_response({"sessions": request.app[STORE].sessions()})


async def admin_dossier(request: web.Request) -> web.Response:
    """Artifact-body requests as received, in arrival order, narrowed by ``project_uuid``."""
    bodies = request.app[STORE].envelopes.dossier_bodies(request.query.get("project_uuid"))
    text = '{"bodies":[' + ",".join(bodies) + '],"count":' + str(len(bodies)) + "}"
    return web.Response(text=text, content_type="application/json")


async def admin_project_refuse(request: web.Request) -> web.Response:
    """Make every envelope of a project answer ``rejected`` with ``error_category`` (default
    ``project_not_admitted``, a category the reference client treats as final)."""
    body = await json_object(request, optional=True)
    category = body_field(body, "error_category", str, default="project_not_admitted").strip()
    if not category:
        raise ApiError(400, "invalid_request", "'error_category' must not be blank")
    request.app[STORE].envelopes.refuse(request.match_info["project_uuid"], category, now(request))
    return web.Response(status=204)


async def admin_project_admit(request: web.Request) -> web.Response:
    request.app[STORE].envelopes.admit(request.match_info["project_uuid"])
    return web.Response(status=204)


async def admin_faults_arm(request: web.Request) -> web.Response:
    """The next ``count`` batch requests (after the bearer check) answer ``status`` and store nothing."""
    body = await json_object(request)
    status = body_field(body, "status", int)
    count = body_field(body, "count", int, default=1)
    guidance = body_field(body, "guidance", str, default=None)
    if not 400 <= status <= 599:
        raise ApiError(400, "invalid_request", "'status' must be an HTTP error status (400-599)")
    if count < 1:
        raise ApiError(400, "invalid_request", "'count' must be at least 1")
    request.app[FAULTS].append(Fault(status, count, guidance))
    return web.json_response({"faults": [asdict(f) for f in request.app[FAULTS]]}, status=201)


async def admin_faults_clear(request: web.Request) -> web.Response:
    request.app[FAULTS].clear()
    return web.Response(status=204)
