"""Bindings and tracker sync: the old protocol's tracker routes, kept until the tracker issue moves the
tracker to ``/api/v1/tracker/``. Events travel by ``POST /api/v1/events/batch/`` (``batch``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from devsaas.api import (
    STORE,
    ApiError,
    authorize,
    body_field,
    json_object,
    now,
    scope,
    valid_lane,
    valid_name,
)
from devsaas.store import Binding, iso


def binding_body(binding: Binding) -> dict[str, Any]:
    return {
        "binding_id": binding.binding_id,
        "project": binding.project,
        "mission": binding.mission,
        "repo_name": binding.repo_name,
        "mission_slug": binding.mission_slug,
        "created_at": iso(binding.created_at),
    }


async def binding_put(request: web.Request) -> web.Response:
    project, mission = scope(request)
    authorize(request, project, claim=True)
    body = await json_object(request, optional=True)
    repo_name = body_field(body, "repo_name", str, default=None)
    mission_slug = body_field(body, "mission_slug", str, default=None)
    binding, created = request.app[STORE].put_binding(project, mission, repo_name, mission_slug, now(request))
    return web.json_response(binding_body(binding), status=201 if created else 200)


async def binding_get(request: web.Request) -> web.Response:
    project, mission = scope(request)
    authorize(request, project)
    binding = request.app[STORE].get_binding(project, mission)
    if binding is None:
        raise ApiError(404, "not_found", f"{project}/{mission} has no binding")
    return web.json_response(binding_body(binding))


async def binding_delete(request: web.Request) -> web.Response:
    project, mission = scope(request)
    authorize(request, project)
    request.app[STORE].delete_binding(project, mission)
    return web.Response(status=204)


async def tracker_sync(request: web.Request) -> web.Response:
    project, mission = scope(request)
    authorize(request, project)
    store = request.app[STORE]
    body = await json_object(request)
    cursor = body_field(body, "cursor", int, default=0)
    if cursor < 0:
        raise ApiError(400, "invalid_request", "'cursor' must not be negative")
    lanes: dict[str, tuple[str, str]] = {}
    for wp_id, pushed in body_field(body, "lanes", dict, default={}).items():
        valid_name(wp_id, "wp_id")
        if not isinstance(pushed, dict):
            raise ApiError(400, "invalid_request", f"lanes.{wp_id} must be an object")
        last_event_id = pushed.get("last_event_id")
        if not isinstance(last_event_id, str) or not last_event_id:
            raise ApiError(400, "invalid_request", f"lanes.{wp_id}.last_event_id must be a non-empty string")
        lanes[wp_id] = (valid_lane(pushed.get("lane")), last_event_id)
    result = store.sync(project, mission, cursor, lanes, now(request))
    changes = [
        {"wp_id": c.wp_id, "lane": c.lane, "changed_at": iso(c.changed_at), "seq": c.seq} for c in result.changes
    ]
    return web.json_response({"cursor": result.cursor, "pushed": result.pushed, "changes": changes})
