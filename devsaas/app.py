"""The dev SaaS HTTP surface: docs/api.md turned into aiohttp routes over a `Store`.

This module is the only one in the package that imports aiohttp; `cli.py` imports it lazily so
`spec-kitty-dev-saas --help` stays cheap, and `testing.py` never imports it at all.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from aiohttp import web

from devsaas.store import Binding, IssuedToken, NotBound, Store, iso

log = logging.getLogger("spec_kitty.devsaas")

SERVICE = "spec-kitty-dev-saas"
LANES = frozenset(
    {"planned", "claimed", "in_progress", "for_review", "in_review", "approved", "done", "blocked", "canceled"}
)
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_EVENTS_PER_REQUEST = 5000
# 5000 rows of a few KiB each, after gzip decoding (aiohttp counts decoded bytes, so this also caps
# a gzip bomb). Rows with big `evidence` blobs are the reason this is not 5000 * 600 bytes.
CLIENT_MAX_SIZE = 64 * 1024 * 1024
TOKEN_TTL = 30 * 24 * 3600
POLL_INTERVAL = 1
DEFAULT_LOGIN = "dev"

Access = Literal["public", "user", "admin"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Config:
    auto_approve: bool
    device_expiry: int
    token_ttl: int = TOKEN_TTL
    allow_remote: bool = False  # bound beyond loopback: the device page cannot approve, only the admin API


STORE = web.AppKey("store", Store)
CONFIG = web.AppKey("config", Config)
REQUESTS = web.AppKey("requests", Counter)


class ApiError(Exception):
    """Raised anywhere under a handler; the middleware renders it as the contract's error body."""

    def __init__(self, status: int, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.detail = detail or code.replace("_", " ")

    def response(self) -> web.Response:
        return web.json_response({"error": self.code, "detail": self.detail}, status=self.status)


def _version() -> str:
    try:
        return metadata.version("spec-kitty-sync")
    except metadata.PackageNotFoundError:
        return "0.0.0"


# -- request helpers --------------------------------------------------------------------------------


def _name(value: str, what: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise ApiError(400, "invalid_name", f"{what} {value!r} must match {NAME_RE.pattern}")
    return value


def _authorize(request: web.Request, project: str, *, claim: bool = False) -> None:
    """403 unless the caller owns or was granted ``project``; ``claim``: the first binder becomes owner."""
    login, _, _ = _authenticate(request)
    if not request.app[STORE].project_access(project, login, time.time(), claim=claim):
        raise ApiError(403, "forbidden", f"project {project!r} belongs to another login")


def _scope(request: web.Request) -> tuple[str, str]:
    return _name(request.match_info["project"], "project"), _name(request.match_info["mission"], "mission")


async def _text(request: web.Request) -> str:
    """The body as text; aiohttp has already undone Content-Encoding: gzip and enforced client_max_size."""
    try:
        raw = await request.read()
    except web.RequestPayloadError as exc:  # e.g. a body labelled gzip that is not gzip
        raise ApiError(400, "invalid_request", "body could not be read: " + " ".join(str(exc).split())) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_request", f"body is not UTF-8: {exc}") from None


async def _json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    text = await _text(request)
    if optional and not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "body must be a JSON object")
    return body


def _field(body: dict[str, Any], key: str, kind: type | tuple[type, ...], *, default: Any = ...) -> Any:
    if key not in body or body[key] is None:
        if default is ...:
            raise ApiError(400, "invalid_request", f"{key!r} is required")
        return default
    value = body[key]
    # bool is an int to isinstance; no field in this API wants a bool where a number goes.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ApiError(400, "invalid_request", f"{key!r} has the wrong type")
    return value


def _lane(value: object) -> str:
    if not isinstance(value, str) or value not in LANES:
        raise ApiError(400, "invalid_lane", f"lane {value!r} is not one of {', '.join(sorted(LANES))}")
    return value


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing bearer token")
    return token.strip()


def _authenticate(request: web.Request) -> tuple[str, str, float]:
    """(login, email, expires_at) of the caller, or 401. The detail never echoes the token."""
    principal = request.app[STORE].principal(_bearer(request))
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown token")
    if principal.revoked:
        raise ApiError(401, "unauthorized", "token revoked")
    if time.time() >= principal.expires_at:
        raise ApiError(401, "unauthorized", "token expired")
    return principal.login, principal.email, principal.expires_at


def _require_loopback(request: web.Request) -> None:
    """Admin endpoints have no auth, so they answer only to this machine even when bound wider."""
    try:
        addr = ipaddress.ip_address(request.remote or "")
    except ValueError:
        addr = None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr is None or not addr.is_loopback:
        raise ApiError(403, "forbidden", "admin endpoints answer only to loopback clients")


def _normalize_user_code(value: str) -> str:
    """Accept what a human types: lower case, spaces, missing dash."""
    compact = re.sub(r"[\s-]", "", value).upper()
    return f"{compact[:4]}-{compact[4:]}" if len(compact) == 8 else compact


def _token_body(token: IssuedToken, now: float) -> dict[str, Any]:
    return {
        "access_token": token.access_token,
        "token_type": "bearer",
        "expires_in": max(0, round(token.expires_at - now)),
        "expires_at": iso(token.expires_at),
        "refresh_token": token.refresh_token,
        "user": {"login": token.login, "email": token.email},
    }


def _binding_body(binding: Binding) -> dict[str, Any]:
    return {
        "binding_id": binding.binding_id,
        "project": binding.project,
        "mission": binding.mission,
        "repo_name": binding.repo_name,
        "mission_slug": binding.mission_slug,
        "created_at": iso(binding.created_at),
    }


# -- event rows -------------------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")


class _Scanner:
    """Just enough of a JSON walker to find where each element of `events` starts and ends."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def peek(self) -> str:
        self.i = _WS.match(self.text, self.i).end()  # type: ignore[union-attr]  # `*` always matches
        return self.text[self.i : self.i + 1]

    def take(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.text[self.i]) if self.i < len(self.text) else "the end of the body"
            raise ApiError(400, "invalid_request", f"expected {char!r} at offset {self.i}, found {found}")
        self.i += 1

    def value(self) -> tuple[Any, str]:
        """The next JSON value, parsed by the C scanner, and the exact text it came from."""
        self.peek()
        start = self.i
        try:
            parsed, self.i = _DECODER.raw_decode(self.text, start)
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_request", f"body is not JSON: {exc}") from None
        return parsed, self.text[start : self.i]

    def event_rows(self) -> list[tuple[str, str]]:
        """The hot loop of an upload, hence the local aliases and the inlined whitespace skips."""
        self.take("[")
        rows: list[tuple[str, str]] = []
        if self.peek() == "]":
            self.i += 1
            return rows
        text, skip, decode = self.text, _WS.match, _DECODER.raw_decode
        i = self.i
        try:
            while True:
                if len(rows) == MAX_EVENTS_PER_REQUEST:
                    raise ApiError(413, "too_large", f"at most {MAX_EVENTS_PER_REQUEST} events per request")
                start = skip(text, i).end()  # type: ignore[union-attr]
                row, i = decode(text, start)
                if type(row) is not dict:
                    raise ApiError(400, "invalid_event", f"row {len(rows)}: not a JSON object")
                event_id = row.get("event_id")
                if type(event_id) is not str or not event_id:
                    raise ApiError(400, "invalid_event", f"row {len(rows)}: event_id must be a non-empty string")
                rows.append((event_id, text[start:i]))
                i = skip(text, i).end()  # type: ignore[union-attr]
                if text[i : i + 1] != ",":
                    break
                i += 1
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_request", f"body is not JSON: {exc}") from None
        self.i = i
        self.take("]")
        return rows


def split_event_rows(text: str) -> list[tuple[str, str]]:
    """Parse `{"events": [...]}` into (event_id, raw row text) pairs, validating each row.

    Rows are stored as the exact text the client sent. Rather than parse the whole body and re-dump
    every row (slower, and not byte-identical: escapes, float spelling, spacing), this walks the outer
    object by hand and lets the C scanner (`raw_decode`) parse each row in place, so a row's text is
    simply the slice the scanner consumed. Each row is still fully parsed, which is what validates it.
    Other top-level keys are parsed and ignored; a repeated `events` key wins last, as in `json.loads`.
    """
    scan = _Scanner(text)
    rows: list[tuple[str, str]] | None = None
    scan.take("{")
    if scan.peek() == "}":
        scan.i += 1
    else:
        while True:
            if scan.peek() != '"':
                scan.take('"')  # raises with the offset
            key, _ = scan.value()
            scan.take(":")
            if key == "events":
                if scan.peek() != "[":
                    raise ApiError(400, "invalid_request", "'events' must be an array")
                rows = scan.event_rows()
            else:
                scan.value()
            if scan.peek() == "}":
                scan.i += 1
                break
            scan.take(",")
    if scan.peek():
        raise ApiError(400, "invalid_request", f"unexpected data after the JSON object at offset {scan.i}")
    if rows is None:
        raise ApiError(400, "invalid_request", "'events' is required")
    return rows


# -- handlers: public -------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": SERVICE, "version": _version()})


async def device_code(request: web.Request) -> web.Response:
    await _json_object(request, optional=True)  # client_id is accepted and ignored
    config = request.app[CONFIG]
    code = request.app[STORE].create_device_code(
        config.device_expiry, time.time(), DEFAULT_LOGIN if config.auto_approve else None
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
            "interval": POLL_INTERVAL,
        }
    )


async def device_token(request: web.Request) -> web.Response:
    body = await _json_object(request)
    code = _field(body, "device_code", str)
    now = time.time()
    outcome, token = request.app[STORE].redeem_device_code(code, now, request.app[CONFIG].token_ttl)
    if token is None:
        return ApiError(400, outcome).response()
    log.info("device login completed for %s", token.login)
    return web.json_response(_token_body(token, now))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spec-kitty dev SaaS</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto}}
label{{display:block;margin:.5rem 0}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""

_FORM = """<p>Approve the spec-kitty CLI login showing this code.</p>
<form method="post" action="/device">
<label>User code <input name="user_code" value="{user_code}" autocomplete="off" required></label>
<label>Login <input name="login" value="{login}" required></label>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=_PAGE.format(title=html.escape(title), body=body), status=status, content_type="text/html")


async def device_page(request: web.Request) -> web.Response:
    user_code = _normalize_user_code(request.query.get("user_code", ""))
    return _page("Device login", _FORM.format(user_code=html.escape(user_code), login=DEFAULT_LOGIN))


def _decide(store: Store, user_code: str, login: str, approve: bool) -> None:
    """Shared by the HTML form and the admin endpoint so both enforce the same rules."""
    code = store.device_by_user_code(_normalize_user_code(user_code))
    if code is None:
        raise ApiError(404, "not_found", f"no device code {user_code!r}")
    if time.time() >= code.expires_at:
        raise ApiError(400, "expired_token", f"device code {code.user_code} has expired")
    if code.status == "pending":
        store.decide_device(code.device_code, login if approve else None, approve)
        log.info("device code %s %s for %s", code.user_code, "approved" if approve else "denied", login)
        return
    # Repeating the decision already taken is a no-op; reversing it is refused.
    already_approved = code.status in ("approved", "consumed")
    if already_approved != approve:
        raise ApiError(409, "conflict", f"device code {code.user_code} was already {code.status}")


async def token_refresh(request: web.Request) -> web.Response:
    """Rotate: an unused refresh token of a live grant buys a new access and refresh token."""
    body = await _json_object(request)
    now = time.time()
    token = request.app[STORE].refresh(_field(body, "refresh_token", str), now, request.app[CONFIG].token_ttl)
    if token is None:
        raise ApiError(400, "invalid_grant", "refresh token unknown, used or revoked")
    return web.json_response(_token_body(token, now))


async def token_revoke(request: web.Request) -> web.Response:
    """RFC 7009: form-encoded ``token`` (+ optional ``token_type_hint``); 200 even for an unknown token."""
    form = await request.post()
    token = form.get("token")
    if not isinstance(token, str) or not token.strip():
        raise ApiError(400, "invalid_request", "'token' is required")
    request.app[STORE].revoke(token.strip(), time.time())
    return web.json_response({})


async def device_form(request: web.Request) -> web.Response:
    if request.app[CONFIG].allow_remote:  # anyone who reaches /device could otherwise mint any login
        return _page("Not approved", "<p>This server is reachable from other machines: an operator approves "
                     "device codes through the loopback admin endpoint.</p>", status=403)
    form = await request.post()
    user_code = str(form.get("user_code", ""))
    login = str(form.get("login", "")).strip() or DEFAULT_LOGIN
    approve = str(form.get("action", "approve")) != "deny"
    try:
        _name(login, "login")
        _decide(request.app[STORE], user_code, login, approve)
    except ApiError as exc:
        again = _FORM.format(user_code=html.escape(user_code), login=html.escape(login))
        return _page("Not approved", f"<p>{html.escape(exc.detail)}</p>{again}", status=exc.status)
    if approve:
        return _page("Device approved", "<p>Approved. You can return to your terminal.</p>")
    return _page("Device denied", "<p>Denied. The CLI login will fail.</p>")


# -- handlers: authenticated ------------------------------------------------------------------------


async def whoami(request: web.Request) -> web.Response:
    login, email, expires_at = _authenticate(request)
    return web.json_response({"login": login, "email": email, "expires_at": iso(expires_at)})


async def binding_put(request: web.Request) -> web.Response:
    project, mission = _scope(request)
    _authorize(request, project, claim=True)
    body = await _json_object(request, optional=True)
    repo_name = _field(body, "repo_name", str, default=None)
    mission_slug = _field(body, "mission_slug", str, default=None)
    binding, created = request.app[STORE].put_binding(project, mission, repo_name, mission_slug, time.time())
    return web.json_response(_binding_body(binding), status=201 if created else 200)


async def binding_get(request: web.Request) -> web.Response:
    project, mission = _scope(request)
    _authorize(request, project)
    binding = request.app[STORE].get_binding(project, mission)
    if binding is None:
        raise ApiError(404, "not_found", f"{project}/{mission} has no binding")
    return web.json_response(_binding_body(binding))


async def binding_delete(request: web.Request) -> web.Response:
    project, mission = _scope(request)
    _authorize(request, project)
    request.app[STORE].delete_binding(project, mission)
    return web.Response(status=204)


async def events_upload(request: web.Request) -> web.Response:
    project, mission = _scope(request)
    _authorize(request, project)
    store = request.app[STORE]
    if store.get_binding(project, mission) is None:  # fail fast, before reading a big body
        raise NotBound(f"{project}/{mission}")
    rows = split_event_rows(await _text(request))
    stored = store.insert_events(project, mission, rows, time.time())
    acked = list(dict.fromkeys(event_id for event_id, _ in rows))
    return web.json_response({"acked": acked, "stored": stored, "duplicates": len(rows) - stored})


async def tracker_sync(request: web.Request) -> web.Response:
    project, mission = _scope(request)
    _authorize(request, project)
    store = request.app[STORE]
    body = await _json_object(request)
    cursor = _field(body, "cursor", int, default=0)
    if cursor < 0:
        raise ApiError(400, "invalid_request", "'cursor' must not be negative")
    lanes: dict[str, tuple[str, str]] = {}
    for wp_id, pushed in _field(body, "lanes", dict, default={}).items():
        _name(wp_id, "wp_id")
        if not isinstance(pushed, dict):
            raise ApiError(400, "invalid_request", f"lanes.{wp_id} must be an object")
        last_event_id = pushed.get("last_event_id")
        if not isinstance(last_event_id, str) or not last_event_id:
            raise ApiError(400, "invalid_request", f"lanes.{wp_id}.last_event_id must be a non-empty string")
        lanes[wp_id] = (_lane(pushed.get("lane")), last_event_id)
    result = store.sync(project, mission, cursor, lanes, time.time())
    changes = [
        {"wp_id": c.wp_id, "lane": c.lane, "changed_at": iso(c.changed_at), "seq": c.seq} for c in result.changes
    ]
    return web.json_response({"cursor": result.cursor, "pushed": result.pushed, "changes": changes})


# -- handlers: admin (loopback, no auth) ------------------------------------------------------------


async def admin_token_issue(request: web.Request) -> web.Response:
    body = await _json_object(request, optional=True)
    login = _name(_field(body, "login", str, default=DEFAULT_LOGIN), "login")
    expires_in = _field(body, "expires_in", int, default=3600)  # <= 0 mints an expired token, for tests
    email = _field(body, "email", str, default=None)
    token = request.app[STORE].issue_token(login, expires_in, time.time(), email)
    return web.json_response({"access_token": token.access_token, "refresh_token": token.refresh_token,
                              "expires_at": iso(token.expires_at)}, status=201)


async def admin_project_grant(request: web.Request) -> web.Response:
    project = _name(request.match_info["project"], "project")
    login = _name(_field(await _json_object(request), "login", str), "login")
    request.app[STORE].grant_project(project, login, time.time())
    return web.Response(status=204)


async def admin_token_revoke(request: web.Request) -> web.Response:
    body = await _json_object(request)
    request.app[STORE].revoke_token(_field(body, "access_token", str), time.time())
    return web.Response(status=204)


async def admin_device_approve(request: web.Request) -> web.Response:
    body = await _json_object(request)
    login = _name(_field(body, "login", str, default=DEFAULT_LOGIN), "login")
    _decide(request.app[STORE], _field(body, "user_code", str), login, approve=True)
    return web.Response(status=204)


async def admin_issue_set(request: web.Request) -> web.Response:
    project, mission = _scope(request)
    wp_id = _name(request.match_info["wp_id"], "wp_id")
    store = request.app[STORE]
    lane = _lane((await _json_object(request)).get("lane"))
    seq = store.set_issue_lane(project, mission, wp_id, lane, time.time())
    return web.json_response({"wp_id": wp_id, "lane": lane, "seq": seq})


async def admin_events(request: web.Request) -> web.Response:
    project, mission = _scope(request)
    bodies = request.app[STORE].event_bodies(project, mission)
    # The rows are already JSON text; splice them instead of parsing and re-dumping.
    text = '{"events":[' + ",".join(bodies) + '],"count":' + str(len(bodies)) + "}"
    return web.Response(text=text, content_type="application/json")


async def admin_issues(request: web.Request) -> web.Response:
    project, mission = _scope(request)
    return web.json_response({"issues": request.app[STORE].issues(project, mission)})


async def admin_stats(request: web.Request) -> web.Response:
    events, bindings = request.app[STORE].counts()
    return web.json_response(
        {"events": events, "bindings": bindings, "requests": dict(sorted(request.app[REQUESTS].items()))}
    )


# -- wiring -----------------------------------------------------------------------------------------

_MISSION = "/api/v1/projects/{project}/missions/{mission}"
_ADMIN_MISSION = "/api/v1/admin/projects/{project}/missions/{mission}"

# (method, path, handler, route name, access). The route name is also the key in admin stats.
ROUTES: tuple[tuple[str, str, Handler, str, Access], ...] = (
    ("GET", "/api/v1/health", health, "health", "public"),
    ("POST", "/api/v1/auth/device/code", device_code, "device_code", "public"),
    ("POST", "/api/v1/auth/device/token", device_token, "device_token", "public"),
    ("POST", "/api/v1/auth/token/refresh", token_refresh, "token_refresh", "public"),
    ("POST", "/api/v1/auth/revoke", token_revoke, "token_revoke", "public"),
    ("GET", "/device", device_page, "device_page", "public"),
    ("POST", "/device", device_form, "device_form", "public"),
    ("GET", "/api/v1/whoami", whoami, "whoami", "user"),
    ("PUT", f"{_MISSION}/binding", binding_put, "binding_put", "user"),
    ("GET", f"{_MISSION}/binding", binding_get, "binding_get", "user"),
    ("DELETE", f"{_MISSION}/binding", binding_delete, "binding_delete", "user"),
    ("POST", f"{_MISSION}/events", events_upload, "events_upload", "user"),
    ("POST", f"{_MISSION}/tracker/sync", tracker_sync, "tracker_sync", "user"),
    ("POST", "/api/v1/admin/tokens", admin_token_issue, "admin_token_issue", "admin"),
    ("POST", "/api/v1/admin/tokens/revoke", admin_token_revoke, "admin_token_revoke", "admin"),
    ("POST", "/api/v1/admin/device/approve", admin_device_approve, "admin_device_approve", "admin"),
    ("POST", "/api/v1/admin/projects/{project}/members", admin_project_grant, "admin_project_grant", "admin"),
    ("POST", f"{_ADMIN_MISSION}/issues/{{wp_id}}", admin_issue_set, "admin_issue_set", "admin"),
    ("GET", f"{_ADMIN_MISSION}/events", admin_events, "admin_events", "admin"),
    ("GET", f"{_ADMIN_MISSION}/issues", admin_issues, "admin_issues", "admin"),
    ("GET", "/api/v1/admin/stats", admin_stats, "admin_stats", "admin"),
)
_ACCESS: dict[str, Access] = {name: access for _, _, _, name, access in ROUTES}

# aiohttp's own errors (no route, wrong method, body over client_max_size) in the contract's shape.
_HTTP_ERROR_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


@web.middleware
async def _api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts, gates (auth or loopback) and turns every failure into `{"error", "detail"}`."""
    name = request.match_info.route.name
    if name is not None:
        request.app[REQUESTS][name] += 1
    try:
        access = _ACCESS.get(name or "")
        if access == "user":
            _authenticate(request)
        elif access == "admin":
            _require_loopback(request)
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except NotBound as exc:
        return ApiError(404, "not_bound", f"{exc} has no tracker binding").response()
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        code = _HTTP_ERROR_CODES.get(exc.status, "http_error")
        return ApiError(exc.status, code, exc.reason).response()
    except Exception:
        if not request.path.startswith("/api/"):
            raise
        log.exception("%s %s failed", request.method, request.path)  # the path never holds a token
        return ApiError(500, "internal", "the dev SaaS hit a bug; see its stderr").response()


def make_app(store: Store, *, auto_approve: bool, device_expiry: int, token_ttl: int = TOKEN_TTL,
             allow_remote: bool = False) -> web.Application:
    app = web.Application(middlewares=[_api_middleware], client_max_size=CLIENT_MAX_SIZE)
    app[STORE] = store
    app[CONFIG] = Config(auto_approve=auto_approve, device_expiry=device_expiry, token_ttl=token_ttl,
                         allow_remote=allow_remote)
    app[REQUESTS] = Counter()
    for method, path, handler, name, _ in ROUTES:
        app.router.add_route(method, path, handler, name=name)
    return app


async def serve(
    store: Store,
    *,
    host: str,
    port: int,
    auto_approve: bool,
    device_expiry: int,
    on_listening: Callable[[str], None],
    token_ttl: int = TOKEN_TTL,
    allow_remote: bool = False,
) -> None:
    """Run until SIGINT or SIGTERM; `on_listening(url)` fires once the socket is bound.

    Signal handlers go in before the bind so a SIGTERM sent the moment the URL is announced is always a
    clean stop. `reuse_address` lets a restart bind the same port right after a kill -9.
    """
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # access_log=None: request lines would be noise, and must never risk carrying a token.
    runner = web.AppRunner(
        make_app(store, auto_approve=auto_approve, device_expiry=device_expiry, token_ttl=token_ttl,
                 allow_remote=allow_remote),
        access_log=None,
        shutdown_timeout=2.0,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound = runner.addresses[0]
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        on_listening(f"http://{shown}:{bound[1]}")
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
