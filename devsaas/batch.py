"""Event sync as the Spec Kitty SaaS serves it: the batch endpoint, artifact bodies, health probes.

The batch answer is one result per envelope (``success``, ``duplicate`` or ``rejected``), the shape
specify_cli/delivery/receivers.py maps. The request-level answers are the ones that receiver and
specify_cli/cli/commands/sync.py react to: 400 "No events provided" for an empty list, 400 with
per-event ``details`` when an element cannot even be named, 413 past 1000 envelopes or the byte
ceiling, 412 with ``sync_protocol.upgrade_guidance`` for a protocol the server does not speak.
An admin can arm faults (the next N requests answer a chosen status) so the client's handling of
each answer can be tested against this server rather than a mock.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from aiohttp import web

from devsaas.api import (
    CONFIG,
    FAULTS,
    SERVICE,
    STORE,
    ApiError,
    Fault,
    OAuthError,
    body_text,
    caller,
    json_object,
    now,
)
from devsaas.envelopes import Envelope
from devsaas.rows import split_envelopes

PROTOCOL_HEADER = "X-Spec-Kitty-Sync-Protocol"  # specify_cli/delivery/receivers.py: _H_SYNC_PROTOCOL
PROTOCOL_MAJOR = 2  # the reference sends "2.0" (_SYNC_PROTOCOL_VERSION)
# This server's choice of category for an envelope that fails validation: the reference client's own
# word for it (specify_cli/sync/batch.py ERROR_CATEGORIES), which it does not retry in a final sync.
INVALID = "schema_mismatch"
DEFAULT_GUIDANCE = ("This dev SaaS speaks sync protocol 2.x; "
                    "use a spec-kitty CLI that sends X-Spec-Kitty-Sync-Protocol: 2.0.")

_MAJOR = re.compile(r"\s*(\d+)(?:\.\d+)*\s*")


def _protocol_mismatch(value: str, guidance: str | None = None) -> web.Response:
    """412 in the body shape specify_cli/delivery/receivers.py reads: ``error_code`` as the category,
    ``sync_protocol.upgrade_guidance`` (else ``error_description``) as the operator's text."""
    match = _MAJOR.fullmatch(value)
    if match is None:
        code = "client-protocol-unparseable"
    else:
        code = "client-too-old" if int(match.group(1)) < PROTOCOL_MAJOR else "client-too-new"
    return web.json_response({
        "error": "sync protocol mismatch",
        "error_code": code,
        "error_description": f"{PROTOCOL_HEADER}: {value!r} is not a {PROTOCOL_MAJOR}.x protocol",
        "sync_protocol": {"server": f"{PROTOCOL_MAJOR}.0", "upgrade_guidance": guidance or DEFAULT_GUIDANCE},
    }, status=412)


def _fault_response(fault: Fault) -> web.Response:
    """What an armed fault answers: each status in the shape the reference client reacts to."""
    if fault.status == 412:
        return _protocol_mismatch("0.0", fault.guidance)
    bodies: dict[int, dict[str, Any]] = {
        400: {"error": "batch validation failed"},  # no details: the client must split the batch
        413: {"error": "request_too_large", "detail": "injected fault: the batch is too large"},
    }
    body = bodies.get(fault.status, {"error": "injected_fault", "detail": f"injected fault: HTTP {fault.status}"})
    return web.json_response(body, status=fault.status)


def _take_fault(request: web.Request) -> Fault | None:
    faults = request.app[FAULTS]
    if not faults:
        return None
    fault = faults[0]
    fault.count -= 1
    if fault.count <= 0:
        faults.pop(0)
    return fault


def _string(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _problem(envelope: dict[str, Any]) -> str | None:
    """Why this envelope cannot be stored, or None. Checks only what every event type the reference
    client builds carries (specify_cli/sync/emitter.py, the envelope assembly): this server stores
    every ``event_type`` and does not judge payloads."""
    if not _string(envelope.get("event_type")):
        return "event_type must be a non-empty string"
    if not _string(envelope.get("aggregate_id")):
        return "aggregate_id must be a non-empty string"
    if not isinstance(envelope.get("payload"), dict):
        return "payload must be an object"
    clock = envelope.get("lamport_clock")
    if not isinstance(clock, int) or isinstance(clock, bool) or clock < 0:
        return "lamport_clock must be a non-negative integer"
    if not _string(envelope.get("timestamp")):
        return "timestamp must be a non-empty string"
    project_uuid = envelope.get("project_uuid")
    if project_uuid is not None and not _string(project_uuid):
        return "project_uuid must be a string or null"
    return None


async def events_batch(request: web.Request) -> web.Response:
    principal = caller(request)
    fault = _take_fault(request)
    if fault is not None:
        return _fault_response(fault)
    protocol = request.headers.get(PROTOCOL_HEADER)
    if protocol is not None:
        match = _MAJOR.fullmatch(protocol)
        if match is None or int(match.group(1)) != PROTOCOL_MAJOR:
            return _protocol_mismatch(protocol)
    text = await body_text(request)
    ceiling = request.app[CONFIG].max_batch_bytes
    if ceiling and len(text.encode("utf-8")) > ceiling:
        raise ApiError(413, "request_too_large", f"batch payload too large: over {ceiling} bytes decompressed")
    elements = split_envelopes(text)
    if not elements:
        # The exact text specify_cli/cli/commands/sync.py's legacy health probe looks for.
        return web.json_response({"error": "No events provided"}, status=400)

    details = []
    for index, (element, _) in enumerate(elements):
        event_id = element.get("event_id") if isinstance(element, dict) else None
        if not _string(event_id):
            why = "not a JSON object" if not isinstance(element, dict) else "event_id must be a non-empty string"
            details.append({"index": index, "event_id": event_id if isinstance(event_id, str) else None,
                            "error": why, "error_category": INVALID})
    if details:
        return web.json_response({"error": "invalid envelopes: nothing stored", "details": details}, status=400)

    envelopes: dict[int, Envelope] = {}
    results: list[dict[str, Any]] = []
    refused = request.app[STORE].envelopes.refusals(
        e["project_uuid"] for e, _ in elements if isinstance(e.get("project_uuid"), str))
    for index, (element, raw) in enumerate(elements):
        event_id = element["event_id"]
        problem = _problem(element)
        category = INVALID
        if problem is None and element.get("project_uuid") in refused:
            category = refused[element["project_uuid"]]
            problem = f"project {element['project_uuid']} is refused by this server ({category})"
        if problem is not None:
            results.append({"event_id": event_id, "status": "rejected", "error": problem, "error_category": category})
            continue
        envelopes[index] = Envelope(event_id, element["event_type"], element.get("project_uuid"),
                                    element["aggregate_id"], raw)
        results.append({"event_id": event_id, "status": "success"})
    fresh = request.app[STORE].envelopes.store(list(envelopes.values()), principal.email, now(request))
    for index, new in zip(envelopes, fresh, strict=True):
        if not new:
            results[index]["status"] = "duplicate"
    return web.json_response({"results": results})


_BODY_FIELDS = ("project_uuid", "mission_slug", "artifact_path", "content_hash", "hash_algorithm", "content_body")


async def dossier_push_content(request: web.Request) -> web.Response:
    """One mission artifact's text (specify_cli/sync/body_transport.py): 201 ``stored`` the first time,
    200 ``already_exists`` after; both echo ``artifact_path`` and ``content_hash``, which the client
    checks to correlate the answer. A refused project answers 403 with its category (the client
    parks ``project_not_admitted`` for good); a body whose sha256 is not ``content_hash``, 400."""
    caller(request)
    body = await json_object(request)
    text = await body_text(request)  # aiohttp keeps the body read: this is the same text, stored as received
    missing = [key for key in _BODY_FIELDS if not _string(body.get(key)) and key != "content_body"]
    if missing or not isinstance(body.get("content_body"), str):
        raise ApiError(400, "invalid_request", f"required string fields: {', '.join(missing or ['content_body'])}")
    echo = {"artifact_path": body["artifact_path"], "content_hash": body["content_hash"]}
    if body["hash_algorithm"] != "sha256":
        raise ApiError(400, "invalid_request", "hash_algorithm must be 'sha256'")
    if hashlib.sha256(body["content_body"].encode("utf-8")).hexdigest() != body["content_hash"]:
        raise ApiError(400, "invalid_request", "content_hash is not the sha256 of content_body")
    envelopes = request.app[STORE].envelopes
    refused = envelopes.refusals([body["project_uuid"]])
    if refused:
        category = refused[body["project_uuid"]]
        return web.json_response({**echo, "status": "rejected", "error": f"project refused ({category})",
                                  "error_category": category}, status=403)
    new = envelopes.store_body(body["project_uuid"], body["mission_slug"], body["artifact_path"],
                               body["content_hash"], text, now(request))
    return web.json_response({**echo, "status": "stored" if new else "already_exists"}, status=201 if new else 200)


async def sync_health(request: web.Request) -> web.Response:
    """The authenticated probe of ``sync status --check`` (specify_cli/cli/commands/sync.py): 200 when
    the bearer is good, the bearer check's 401 otherwise."""
    caller(request)
    return web.json_response({"status": "ok", "sync_protocol": f"{PROTOCOL_MAJOR}.0"})


async def root(request: web.Request) -> web.Response:
    """``GET /`` and ``HEAD /``: a reachability probe needs some 200 at the origin."""
    return web.json_response({"service": SERVICE, "status": "ok"})


async def ws_token(request: web.Request) -> web.Response:
    """This server opens no WebSocket. The reference client asks for a WebSocket token on each event it
    emits (specify_cli/auth/websocket/token_provisioning.py) and, on any refusal, logs a warning and
    keeps the event for ``sync now``. A 404 would make it say "Team not found"; a 403 with this
    ``error_description`` is the one answer it prints as given ("Forbidden: <description>")."""
    caller(request)
    raise OAuthError(403, "websocket_unavailable",
                     "this dev SaaS serves no WebSocket; events travel by POST /api/v1/events/batch/ (sync now)")
