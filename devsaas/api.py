"""What every dev SaaS handler shares: the app's keys, the contract's errors, and request checks.

docs/api.md is the contract. A handler raises ``ApiError`` anywhere; the middleware in ``app.py``
renders it as ``{"error", "detail"}`` (``OAuthError`` as RFC 6749's ``{"error", "error_description"}``).
The clock is an app key so tests move time without sleeping.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from devsaas.store import REFRESH_TTL, Principal, Store
from states.contract import LANES
from states.contract import NAME as NAME_RE

SERVICE = "spec-kitty-dev-saas"
# Any request body, after gzip decoding (aiohttp counts decoded bytes, so this also caps a gzip bomb).
# Far above the batch endpoint's own ceiling (MAX_BATCH_BYTES) so `serve --max-batch-bytes 0` still
# takes 1000 envelopes with big payloads, and an artifact body of any real mission file fits.
CLIENT_MAX_SIZE = 64 * 1024 * 1024
TOKEN_TTL = 30 * 24 * 3600
POLL_INTERVAL = 1
# How long a just-rotated refresh token answers 409 refresh_replay_benign_retry instead of invalid_grant:
# this server's choice (the hosted SaaS's window is not observable from the client).
REFRESH_GRACE = 30.0
# The batch endpoint's decompressed ceiling: the hosted ingress's (specify_cli/sync/sync_dispatch_core.py
# cites the host's apps/sync/limits.py: 512 KiB); `serve --max-batch-bytes` changes it here.
MAX_BATCH_BYTES = 512 * 1024
DEFAULT_LOGIN = "dev"

Access = Literal["public", "user", "admin"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Config:
    auto_approve: bool
    device_expiry: int
    token_ttl: int = TOKEN_TTL
    allow_remote: bool = False  # bound beyond loopback: the device page cannot approve, only the admin API
    poll_interval: int = POLL_INTERVAL  # the device answer's `interval`; polling faster earns slow_down
    refresh_grace: float = REFRESH_GRACE
    refresh_ttl: int = REFRESH_TTL
    max_batch_bytes: int = MAX_BATCH_BYTES  # 0: none


@dataclass(slots=True)
class Fault:
    """The next ``count`` batch requests answer ``status`` (a test's way to see the client cope)."""

    status: int
    count: int
    guidance: str | None = None  # a 412's sync_protocol.upgrade_guidance


STORE = web.AppKey("store", Store)
CONFIG = web.AppKey("config", Config)
REQUESTS = web.AppKey("requests", Counter)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
# In memory on purpose: a restart forgets an armed fault and the last poll times, which only makes the
# server kinder (no fault, no slow_down); nothing a client was told depends on them surviving.
FAULTS: web.AppKey[list[Fault]] = web.AppKey("faults")
POLLS: web.AppKey[dict[str, float]] = web.AppKey("polls")


class ApiError(Exception):
    """Raised anywhere under a handler; the middleware renders it as the contract's error body."""

    def __init__(self, status: int, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.detail = detail or code.replace("_", " ")

    def response(self) -> web.Response:
        return web.json_response({"error": self.code, "detail": self.detail}, status=self.status)


class OAuthError(ApiError):
    """An error of the ``/oauth/*`` endpoints, in RFC 6749 §5.2's shape: ``{"error", "error_description"}``.

    The reference client reads ``error`` to classify and ``error_description`` to show (specify_cli/auth/
    device_flow/poller.py, auth/flows/refresh.py).
    """

    def response(self) -> web.Response:
        return web.json_response({"error": self.code, "error_description": self.detail}, status=self.status)


def now(request: web.Request) -> float:
    """The server's time (epoch seconds), from the app's clock."""
    return request.app[CLOCK]()


def valid_name(value: str, what: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise ApiError(400, "invalid_name", f"{what} {value!r} must match {NAME_RE.pattern}")
    return value


def valid_lane(value: object) -> str:
    if not isinstance(value, str) or value not in LANES:
        raise ApiError(400, "invalid_lane", f"lane {value!r} is not one of {', '.join(sorted(LANES))}")
    return value


def scope(request: web.Request) -> tuple[str, str]:
    """The (project, mission) a mission route names, both checked against the name rule."""
    return valid_name(request.match_info["project"], "project"), valid_name(request.match_info["mission"], "mission")


async def body_text(request: web.Request) -> str:
    """The body as text; aiohttp has already undone Content-Encoding: gzip and enforced client_max_size."""
    try:
        raw = await request.read()
    except web.RequestPayloadError as exc:  # e.g. a body labelled gzip that is not gzip
        raise ApiError(400, "invalid_request", "body could not be read: " + " ".join(str(exc).split())) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_request", f"body is not UTF-8: {exc}") from None


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    text = await body_text(request)
    if optional and not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "body must be a JSON object")
    return body


def body_field(body: dict[str, Any], key: str, kind: type | tuple[type, ...], *, default: Any = ...) -> Any:
    if key not in body or body[key] is None:
        if default is ...:
            raise ApiError(400, "invalid_request", f"{key!r} is required")
        return default
    value = body[key]
    # bool is an int to isinstance; no field in this API wants a bool where a number goes.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ApiError(400, "invalid_request", f"{key!r} has the wrong type")
    return value


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing bearer token")
    return token.strip()


def caller(request: web.Request) -> Principal:
    """The caller's live principal, or 401. The detail never echoes the token."""
    principal = request.app[STORE].principal(_bearer(request))
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown token")
    if principal.revoked:
        raise ApiError(401, "unauthorized", "token revoked")
    if now(request) >= principal.expires_at:
        raise ApiError(401, "unauthorized", "token expired")
    return principal


def authenticate(request: web.Request) -> tuple[str, str, float]:
    """(login, email, expires_at) of the caller, or 401."""
    principal = caller(request)
    return principal.login, principal.email, principal.expires_at


async def form_fields(request: web.Request) -> dict[str, str]:
    """An OAuth request's form-encoded fields (RFC 6749 §4: ``application/x-www-form-urlencoded``).

    A JSON body or a file upload is a client speaking something else: 400 ``invalid_request``.
    """
    if request.content_type != "application/x-www-form-urlencoded":
        raise OAuthError(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
    form = await request.post()
    return {key: value.strip() for key, value in form.items() if isinstance(value, str)}


def authorize(request: web.Request, project: str, *, claim: bool = False) -> None:
    """403 unless the caller owns or was granted ``project``; ``claim``: the first binder becomes owner."""
    login, _, _ = authenticate(request)
    if not request.app[STORE].project_access(project, login, now(request), claim=claim):
        raise ApiError(403, "forbidden", f"project {project!r} belongs to another login")


def require_loopback(request: web.Request) -> None:
    """Admin endpoints have no auth, so they answer only to this machine even when bound wider."""
    try:
        addr = ipaddress.ip_address(request.remote or "")
    except ValueError:
        addr = None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr is None or not addr.is_loopback:
        raise ApiError(403, "forbidden", "admin endpoints answer only to loopback clients")

