"""``/api/v1/tracker/*``: the hosted tracker's routes as the reference client calls them.

Shapes are those of spec-kitty-cli 3.2.7's ``specify_cli/tracker/saas_client.py`` (requests) and
``tracker/discovery.py`` / ``cli/commands/tracker.py`` (the answers it reads); docs/api.md lists them
and says which parts are this server's own choice. Every call carries a bearer token and
``X-Team-Slug``, the caller's one shared (non-private) team; writes (``bind-confirm``, ``push``,
``run``) carry an ``Idempotency-Key``, and the same key on the same path gets the first answer again
(with ``Idempotency-Replayed: true``). Errors are the envelope ``{error_code, error_category,
message, retryable, user_action_required}``.

``run`` answers 202 with an ``operation_id``, polled at ``operations/{id}/`` (so is ``push`` or
``pull`` when a test asks for it through the admin API); the work is done before the 202, the
operation only reports it.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from devsaas.api import STORE, ApiError, caller, json_object, now
from devsaas.oauth import teams
from devsaas.trackerstore import (
    PROVIDER,
    TrackerBinding,
    candidate_token,
    resource_for_token,
)
from devsaas.trackerstore import Tracker as TrackerTables
from states.contract import LANES, NAME

# path -> polls answered "running" before "completed"; a path absent answers synchronously
ASYNC: web.AppKey[dict[str, int]] = web.AppKey("tracker_async")
# what each tracker request looked like (method, path, query and body keys, the headers that matter)
SEEN: web.AppKey[list[dict[str, Any]]] = web.AppKey("tracker_requests")
MAX_LIMIT = 1000


class TrackerError(ApiError):
    """An error of the tracker routes, in the reference client's envelope (``_parse_error_envelope``)."""

    def __init__(self, status: int, code: str, message: str, *, retryable: bool = False,
                 action: bool = False) -> None:
        super().__init__(status, code, message)
        self.retryable = retryable
        self.action = action

    def response(self) -> web.Response:
        return web.json_response({"error_code": self.code, "error_category": self.code, "message": self.detail,
                                  "retryable": self.retryable, "user_action_required": self.action},
                                 status=self.status)


def _tables(request: web.Request) -> TrackerTables:
    return request.app[STORE].tracker


def _shape(value: object) -> object:
    """Keys of a JSON body, nested one level (``project_identity``'s keys matter), never the values."""
    if isinstance(value, dict):
        return {key: sorted(item) if isinstance(item, dict) else type(item).__name__ for key, item in value.items()}
    return type(value).__name__


async def _enter(request: web.Request, *, write: bool = False) -> tuple[str, dict[str, Any]]:
    """Record the request, check the team header (and the idempotency key of a write); (team, body)."""
    body: dict[str, Any] = await json_object(request, optional=True) if request.method == "POST" else {}
    request.app[SEEN].append({
        "method": request.method,
        "path": request.path,
        "query": sorted(request.query),
        "body": _shape(body),
        "team": request.headers.get("X-Team-Slug"),
        "idempotency_key": bool(request.headers.get("Idempotency-Key")),
        "content_type": request.content_type if request.method == "POST" else None,
    })
    principal = caller(request)
    team = request.headers.get("X-Team-Slug", "").strip()
    shared = [t["id"] for t in teams(principal.login) if not t["is_private_teamspace"]]
    if not team:
        raise TrackerError(400, "missing_team_slug", "X-Team-Slug is required", action=True)
    if team not in shared:
        raise TrackerError(403, "team_forbidden", f"not a member of team {team!r}", action=True)
    if write and not request.headers.get("Idempotency-Key", "").strip():
        raise TrackerError(400, "missing_idempotency_key", "writes need an Idempotency-Key")
    return team, body


def _provider(value: object) -> str:
    if value != PROVIDER:
        raise TrackerError(404, "provider_not_connected", f"provider {value!r} is not connected to this team",
                           action=True)
    return PROVIDER


def _identity(body: dict[str, Any]) -> tuple[str, str]:
    identity = body.get("project_identity")
    if not isinstance(identity, dict) or not isinstance(identity.get("uuid"), str) or not identity["uuid"]:
        raise TrackerError(400, "invalid_project_identity", "project_identity.uuid is required")
    slug = identity.get("slug")
    return identity["uuid"], str(slug) if isinstance(slug, str) and slug else identity["uuid"]


def _routed(request: web.Request, source: dict[str, Any], team: str) -> TrackerBinding:
    """The binding ``provider`` + ``binding_ref`` (preferred) or ``project_slug`` name."""
    _provider(source.get("provider"))
    tables = _tables(request)
    ref, slug = source.get("binding_ref"), source.get("project_slug")
    if isinstance(ref, str) and ref:
        found = tables.binding(ref)
    elif isinstance(slug, str) and slug:
        found = tables.binding_for_slug(PROVIDER, slug, team)
    else:
        raise TrackerError(400, "missing_routing_key", "binding_ref or project_slug is required")
    if found is None or found.team != team:
        raise TrackerError(404, "binding_not_found", "no such tracker binding", action=True)
    return found


def _identity_path(binding: TrackerBinding, source: dict[str, Any]) -> dict[str, str]:
    kind = "binding_ref" if source.get("binding_ref") else "project_slug"
    return {"type": kind, "provider": binding.provider, "binding_ref": binding.binding_ref}


def _bound(binding: TrackerBinding) -> dict[str, Any]:
    from devsaas.store import iso

    return {"binding_ref": binding.binding_ref, "display_label": binding.display_label, "provider": binding.provider,
            "provider_context": {"resource": binding.resource_id}, "bound_at": iso(binding.bound_at),
            "project_slug": binding.project_slug}


def _replayed(request: web.Request, team: str) -> web.Response | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    earlier = _tables(request).reply(team, key, request.path) if key else None
    if earlier is None:
        return None
    return web.json_response(earlier[1], status=earlier[0], headers={"Idempotency-Replayed": "true"})


def _answer(request: web.Request, team: str, body: dict[str, Any], status: int = 200) -> web.Response:
    key = request.headers.get("Idempotency-Key", "").strip()
    if key:
        _tables(request).remember(team, key, request.path, status, body)
    return web.json_response(body, status=status)


def _maybe_async(request: web.Request, team: str, name: str, result: dict[str, Any]) -> web.Response:
    """The result itself, or (for a path the admin made asynchronous) a 202 naming an operation."""
    polls = request.app[ASYNC].get(name)
    if polls is None:
        return _answer(request, team, result)
    operation_id = "op_" + secrets.token_hex(8)
    _tables(request).start_operation(operation_id, team, polls, result, now(request))
    return _answer(request, team, {"operation_id": operation_id, "status": "pending"}, 202)


def _summary(total: int, succeeded: int, failed: int = 0) -> dict[str, int]:
    return {"total": total, "succeeded": succeeded, "failed": failed, "skipped": total - succeeded - failed}


# -- discovery and binding ---------------------------------------------------------------------------------
async def resources(request: web.Request) -> web.Response:
    team, _ = await _enter(request)
    provider = _provider(request.query.get("provider"))
    tables = _tables(request)
    listed = []
    for resource in tables.resources(provider):
        listed.append({"candidate_token": candidate_token(resource.resource_id),
                       "display_label": resource.display_label, "provider": provider,
                       "provider_context": {"resource": resource.resource_id}})
    return web.json_response({"resources": listed, "team": team})


async def bind_resolve(request: web.Request) -> web.Response:
    """``exact`` when the project is bound already; else every resource as a candidate (this server
    matches nothing by name, so it guesses nothing: the client picks); ``none`` without resources."""
    _, body = await _enter(request)
    provider = _provider(body.get("provider"))
    project_uuid, project_slug = _identity(body)
    tables = _tables(request)
    bound = tables.binding_for_project(provider, project_uuid)
    if bound is not None:
        return web.json_response({"match_type": "exact", "binding_ref": bound.binding_ref,
                                  "display_label": bound.display_label, "project_slug": bound.project_slug,
                                  "candidates": []})
    candidates = [{"candidate_token": candidate_token(r.resource_id), "display_label": r.display_label,
                   "confidence": "low", "match_reason": "a resource of the connected provider",
                   "sort_position": position} for position, r in enumerate(tables.resources(provider))]
    return web.json_response({"match_type": "candidates" if candidates else "none", "candidates": candidates,
                              "project_slug": project_slug})


async def bind_confirm(request: web.Request) -> web.Response:
    team, body = await _enter(request, write=True)
    if (earlier := _replayed(request, team)) is not None:
        return earlier
    provider = _provider(body.get("provider"))
    project_uuid, project_slug = _identity(body)
    token = body.get("candidate_token")
    resource_id = resource_for_token(token) if isinstance(token, str) else None
    if resource_id is None or resource_id not in {r.resource_id for r in _tables(request).resources(provider)}:
        raise TrackerError(400, "invalid_candidate_token", "the candidate token is unknown or expired")
    binding = _tables(request).bind(provider, resource_id, project_uuid, project_slug, team, now(request))
    return _answer(request, team, _bound(binding))


async def bind_validate(request: web.Request) -> web.Response:
    team, body = await _enter(request)
    provider = _provider(body.get("provider"))
    project_uuid, _ = _identity(body)
    ref = body.get("binding_ref")
    found = _tables(request).binding(ref) if isinstance(ref, str) else None
    if found is None or found.team != team:
        return web.json_response({"valid": False, "binding_ref": ref, "reason": "unknown binding_ref",
                                  "guidance": "Run `spec-kitty tracker bind` without --bind-ref."})
    if found.project_uuid != project_uuid:
        return web.json_response({"valid": False, "binding_ref": ref, "reason": "bound to another project",
                                  "guidance": "Use this project's own binding."})
    return web.json_response({"valid": True, **_bound(found), "provider": provider})


async def status(request: web.Request) -> web.Response:
    team, _ = await _enter(request)
    source = dict(request.query)
    if not source.get("binding_ref") and not source.get("project_slug"):  # installation-wide (`status --all`)
        _provider(source.get("provider"))
        return web.json_response({"provider": PROVIDER, "connected": True,
                                  "resource_count": len(_tables(request).resources(PROVIDER))})
    binding = _routed(request, source, team)
    from devsaas.store import iso

    synced = binding.last_sync_at
    return web.json_response({
        "configured": True, "provider": binding.provider, "binding_ref": binding.binding_ref,
        "display_label": binding.display_label, "project_slug": binding.project_slug,
        "identity_path": _identity_path(binding, source), "sync_state": "synced" if synced else "never_synced",
        "last_sync_at": iso(synced) if synced else None,
        "issue_count": _tables(request).issue_count(binding.binding_ref),
    })


async def mappings(request: web.Request) -> web.Response:
    team, _ = await _enter(request)
    source = dict(request.query)
    if source.get("binding_ref") or source.get("project_slug"):
        _routed(request, source, team)
    else:
        _provider(source.get("provider"))
    return web.json_response({"mappings": [{"field": "status", "external_field": "status", "direction": "both"}]})


# -- sync ----------------------------------------------------------------------------------------------------
def _limit(body: dict[str, Any]) -> int:
    limit = body.get("limit", 100)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise TrackerError(400, "invalid_request", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit


async def pull(request: web.Request) -> web.Response:
    """Tracker-side changes since ``cursor`` (a string), oldest first; ``filters.mission_slug`` narrows."""
    team, body = await _enter(request)
    binding = _routed(request, body, team)
    cursor_text = body.get("cursor") or "0"
    if not isinstance(cursor_text, str) or not cursor_text.isdigit():
        raise TrackerError(400, "invalid_cursor", "cursor must be one this server returned")
    filters = body.get("filters")
    filters = filters if isinstance(filters, dict) else {}
    mission = filters.get("mission_slug") if isinstance(filters.get("mission_slug"), str) else None
    changes, cursor, more = _tables(request).pull(binding.binding_ref, int(cursor_text), _limit(body), mission,
                                                  now(request))
    from devsaas.store import iso

    items = [{"ref": f"{c.mission}/{c.wp_id}", "mission_slug": c.mission, "wp_id": c.wp_id, "status": c.lane,
              "seq": c.seq, "changed_at": iso(c.changed_at)} for c in changes]
    result = {"status": "complete", "identity_path": _identity_path(binding, body), "items": items,
              "next_cursor": str(cursor), "has_more": more, "summary": _summary(len(items), len(items))}
    return _maybe_async(request, team, "pull", result)


def _push_item(request: web.Request, binding: TrackerBinding, item: object) -> dict[str, Any]:
    """One ``PushItem`` (``ref`` ``<mission>/<wp_id>``, ``action`` ``set_status``, ``target_status`` a lane,
    ``patch.last_event_id`` the log row that moved it): its result."""
    ref = item.get("ref") if isinstance(item, dict) else None
    if not isinstance(item, dict) or not isinstance(ref, str) or ref.count("/") != 1:
        return {"ref": ref, "status": "failed", "error": "ref must be '<mission>/<wp_id>'"}
    mission, wp_id = ref.split("/")
    lane = item.get("target_status")
    patch = item.get("patch")
    patch = patch if isinstance(patch, dict) else {}
    last_event_id = patch.get("last_event_id") if isinstance(patch.get("last_event_id"), str) else None
    named = NAME.fullmatch(mission) and NAME.fullmatch(wp_id)
    if item.get("action") != "set_status" or lane not in LANES or not named:
        return {"ref": ref, "status": "failed", "error": "unsupported action, status or name"}
    outcome = _tables(request).push(binding.binding_ref, mission, wp_id, str(lane), last_event_id, now(request))
    return {"ref": ref, "status": outcome}


async def push(request: web.Request) -> web.Response:
    team, body = await _enter(request, write=True)
    if (earlier := _replayed(request, team)) is not None:
        return earlier
    binding = _routed(request, body, team)
    items = body.get("items")
    if not isinstance(items, list):
        raise TrackerError(400, "invalid_request", "items must be a list")
    results = [_push_item(request, binding, item) for item in items]
    succeeded = sum(1 for r in results if r["status"] == "succeeded")
    failed = sum(1 for r in results if r["status"] == "failed")
    result = {"status": "complete", "identity_path": _identity_path(binding, body), "results": results,
              "summary": _summary(len(results), succeeded, failed)}
    return _maybe_async(request, team, "push", result)


def _mirrored(request: web.Request, binding: TrackerBinding) -> list[dict[str, Any]]:
    """The lanes the project's ``WPStatusChanged`` envelopes carry, latest per work package, as push items."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for text in request.app[STORE].envelopes.bodies(project_uuid=binding.project_uuid, event_type="WPStatusChanged"):
        envelope = json.loads(text)
        payload = envelope.get("payload") if isinstance(envelope, dict) else None
        if not isinstance(payload, dict):
            continue
        mission, wp_id = payload.get("mission_slug"), payload.get("wp_id")
        if isinstance(mission, str) and isinstance(wp_id, str):
            latest[(mission, wp_id)] = {"ref": f"{mission}/{wp_id}", "action": "set_status",
                                        "target_status": payload.get("to_lane"),
                                        "patch": {"last_event_id": envelope.get("causation_id")}}
    return list(latest.values())


async def run(request: web.Request) -> web.Response:
    """A whole cycle on the host's side: the lanes the host received as events go to the tracker. The
    answer is a 202; the operation reports the summary."""
    team, body = await _enter(request, write=True)
    if (earlier := _replayed(request, team)) is not None:
        return earlier
    binding = _routed(request, body, team)
    _limit(body)
    results = [_push_item(request, binding, item) for item in _mirrored(request, binding)]
    succeeded = sum(1 for r in results if r["status"] == "succeeded")
    failed = sum(1 for r in results if r["status"] == "failed")
    result = {"status": "complete", "identity_path": _identity_path(binding, body),
              "summary": _summary(len(results), succeeded, failed)}
    operation_id = "op_" + secrets.token_hex(8)
    _tables(request).start_operation(operation_id, team, request.app[ASYNC].get("run", 0), result, now(request))
    return _answer(request, team, {"operation_id": operation_id, "status": "pending"}, 202)


async def operation(request: web.Request) -> web.Response:
    team, _ = await _enter(request)
    operation_id = request.match_info["operation_id"]
    found = _tables(request).poll_operation(operation_id, team)
    if found is None:
        raise TrackerError(404, "operation_not_found", f"no operation {operation_id!r}")
    state, result = found
    answer: dict[str, Any] = {"operation_id": operation_id, "status": state}
    if state == "completed":
        answer["result"] = result
    return web.json_response(answer)


# -- the admin side: the tracker changed by someone else ----------------------------------------------------
def _admin_binding(request: web.Request) -> TrackerBinding:
    project = request.match_info["project"]
    found = _tables(request).bindings_of(project)
    if not found:
        raise ApiError(404, "not_bound", f"{project} has no tracker binding")
    return found[0]


async def admin_issue_set(request: web.Request) -> web.Response:
    """Move an issue on the tracker side; ``project`` is a project's uuid, slug or binding_ref."""
    from devsaas.api import valid_lane, valid_name

    binding = _admin_binding(request)
    mission = valid_name(request.match_info["mission"], "mission")
    wp_id = valid_name(request.match_info["wp_id"], "wp_id")
    lane = valid_lane((await json_object(request)).get("lane"))
    seq = _tables(request).set_lane(binding.binding_ref, mission, wp_id, lane, now(request))
    return web.json_response({"wp_id": wp_id, "lane": lane, "seq": seq})


async def admin_issues(request: web.Request) -> web.Response:
    from devsaas.api import valid_name
    from devsaas.store import iso

    mission = valid_name(request.match_info["mission"], "mission")
    found = _tables(request).bindings_of(request.match_info["project"])
    if not found:  # a view of nothing is empty
        return web.json_response({"issues": {}, "binding_ref": None})
    binding = found[0]
    issues = _tables(request).issues(binding.binding_ref, mission)
    for issue in issues.values():
        issue["updated_at"] = iso(issue["updated_at"])
    return web.json_response({"issues": issues, "binding_ref": binding.binding_ref})


async def admin_resource_add(request: web.Request) -> web.Response:
    label = (await json_object(request)).get("display_label")
    if not isinstance(label, str) or not NAME.fullmatch(label.replace("/", "-")):
        raise ApiError(400, "invalid_request", "display_label must be a name (letters, digits, ._-/)")
    resource = _tables(request).add_resource(label, now(request))
    return web.json_response({"resource_id": resource.resource_id, "provider": resource.provider}, status=201)


async def admin_async(request: web.Request) -> web.Response:
    """``{"path": "push"|"pull"|"run", "polls": n}``: that route answers 202 and its operation reports
    ``running`` for ``n`` polls; ``polls`` null makes push/pull synchronous again."""
    body = await json_object(request)
    path, polls = body.get("path"), body.get("polls")
    if path not in ("push", "pull", "run"):
        raise ApiError(400, "invalid_request", "path must be push, pull or run")
    if polls is None and path != "run":
        request.app[ASYNC].pop(path, None)
    elif isinstance(polls, int) and not isinstance(polls, bool) and polls >= 0:
        request.app[ASYNC][str(path)] = polls
    else:
        raise ApiError(400, "invalid_request", "polls must be a number of polls (0 or more)")
    waits: dict[str, int] = request.app[ASYNC]
    return web.json_response(dict(waits))


async def admin_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": request.app[SEEN]})


async def admin_bindings(request: web.Request) -> web.Response:
    """A project's bindings (uuid, slug or binding_ref), newest first."""
    found = _tables(request).bindings_of(request.match_info["project"])
    return web.json_response({"bindings": [{**_bound(b), "project_uuid": b.project_uuid} for b in found]})
