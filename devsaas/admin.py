"""Admin endpoints: what a test or an operator on this machine uses to mint, grant, approve and look.

No auth: the middleware lets them answer only to loopback clients.
"""

from __future__ import annotations

from aiohttp import web

from devsaas.api import (
    DEFAULT_LOGIN,
    REQUESTS,
    STORE,
    body_field,
    json_object,
    now,
    scope,
    valid_lane,
    valid_name,
)
from devsaas.auth import decide_device
from devsaas.store import iso


async def admin_token_issue(request: web.Request) -> web.Response:
    body = await json_object(request, optional=True)
    login = valid_name(body_field(body, "login", str, default=DEFAULT_LOGIN), "login")
    expires_in = body_field(body, "expires_in", int, default=3600)  # <= 0 mints an expired token, for tests
    email = body_field(body, "email", str, default=None)
    token = request.app[STORE].issue_token(login, expires_in, now(request), email)
    return web.json_response({"access_token": token.access_token, "refresh_token": token.refresh_token,
                              "expires_at": iso(token.expires_at)}, status=201)


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


async def admin_issue_set(request: web.Request) -> web.Response:
    project, mission = scope(request)
    wp_id = valid_name(request.match_info["wp_id"], "wp_id")
    store = request.app[STORE]
    lane = valid_lane((await json_object(request)).get("lane"))
    seq = store.set_issue_lane(project, mission, wp_id, lane, now(request))
    return web.json_response({"wp_id": wp_id, "lane": lane, "seq": seq})


async def admin_events(request: web.Request) -> web.Response:
    project, mission = scope(request)
    bodies = request.app[STORE].event_bodies(project, mission)
    # The rows are already JSON text; splice them instead of parsing and re-dumping.
    text = '{"events":[' + ",".join(bodies) + '],"count":' + str(len(bodies)) + "}"
    return web.Response(text=text, content_type="application/json")


async def admin_issues(request: web.Request) -> web.Response:
    project, mission = scope(request)
    return web.json_response({"issues": request.app[STORE].issues(project, mission)})


async def admin_stats(request: web.Request) -> web.Response:
    events, bindings = request.app[STORE].counts()
    return web.json_response(
        {"events": events, "bindings": bindings, "requests": dict(sorted(request.app[REQUESTS].items()))}
    )
