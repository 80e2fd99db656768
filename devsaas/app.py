"""The dev SaaS server: docs/api.md's routes, the middleware that gates them, and the process loop.

The handlers live beside it by concern: the Spec Kitty SaaS protocol in ``oauth`` (login, identity),
``batch`` (event sync) and ``trackerapi`` (the hosted tracker; tables in ``trackerstore``), then ``admin``
and ``pages``, with the device approval rules they share in ``auth``; shared request checks in ``api``,
the batch body scanner in ``rows``. Only these server modules import aiohttp; ``cli.py``
imports this one lazily so ``spec-kitty-dev-saas --help`` stays cheap, and ``testing.py`` never does.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from importlib import metadata

from aiohttp import web

from devsaas.admin import (
    admin_device_approve,
    admin_dossier,
    admin_envelopes,
    admin_faults_arm,
    admin_faults_clear,
    admin_project_admit,
    admin_project_grant,
    admin_project_refuse,
    admin_sessions,
    admin_stats,
    admin_token_issue,
    admin_token_revoke,
)
from devsaas.api import (
    CLIENT_MAX_SIZE,
    CLOCK,
    CONFIG,
    FAULTS,
    MAX_BATCH_BYTES,
    POLL_INTERVAL,
    POLLS,
    REFRESH_GRACE,
    REQUESTS,
    SERVICE,
    STORE,
    TOKEN_TTL,
    Access,
    ApiError,
    Clock,
    Config,
    Handler,
    authenticate,
    require_loopback,
)
from devsaas.batch import dossier_push_content, events_batch, root, sync_health, ws_token
from devsaas.oauth import me, oauth_device, oauth_revoke, oauth_token, session_status
from devsaas.pages import device_form, device_page
from devsaas.store import REFRESH_TTL, Store
from devsaas.trackerapi import (
    ASYNC,
    SEEN,
    admin_async,
    admin_bindings,
    admin_issue_set,
    admin_issues,
    admin_requests,
    admin_resource_add,
    bind_confirm,
    bind_resolve,
    bind_validate,
)
from devsaas.trackerapi import mappings as tracker_mappings
from devsaas.trackerapi import operation as tracker_operation
from devsaas.trackerapi import pull as tracker_pull
from devsaas.trackerapi import push as tracker_push
from devsaas.trackerapi import resources as tracker_resources
from devsaas.trackerapi import run as tracker_run
from devsaas.trackerapi import status as tracker_status

log = logging.getLogger("spec_kitty.devsaas")


def _version() -> str:
    try:
        return metadata.version("spec-kitty-sync")
    except metadata.PackageNotFoundError:
        return "0.0.0"


async def health(request: web.Request) -> web.Response:
    """``GET /api/v1/health``: the reference client's ``saas_client/client.py`` ``health_probe`` (the widen
    prerequisite check) wants a 200; the body is this server's own."""
    return web.json_response({"status": "ok", "service": SERVICE, "version": _version()})


# -- wiring -----------------------------------------------------------------------------------------

_MISSION = "/api/v1/projects/{project}/missions/{mission}"
_ADMIN_MISSION = "/api/v1/admin/projects/{project}/missions/{mission}"
_TRACKER = "/api/v1/tracker"

# (method, path, handler, route name, access). The route name is also the key in admin stats.
ROUTES: tuple[tuple[str, str, Handler, str, Access], ...] = (
    # The Spec Kitty SaaS protocol (docs/api.md; each answer cites the reference client's source).
    ("GET", "/", root, "root", "public"),
    ("HEAD", "/", root, "root_head", "public"),
    ("POST", "/oauth/device", oauth_device, "oauth_device", "public"),
    ("POST", "/oauth/token", oauth_token, "oauth_token", "public"),
    ("POST", "/oauth/revoke", oauth_revoke, "oauth_revoke", "public"),
    ("GET", "/api/v1/me", me, "me", "user"),
    ("GET", "/api/v1/session-status", session_status, "session_status", "user"),
    ("POST", "/api/v1/events/batch/", events_batch, "events_batch", "user"),
    ("GET", "/api/v1/sync/health/", sync_health, "sync_health", "user"),
    ("POST", "/api/dossier/push-content/", dossier_push_content, "dossier_push_content", "user"),
    ("POST", "/api/v1/ws-token", ws_token, "ws_token", "user"),
    ("GET", "/device", device_page, "device_page", "public"),
    ("POST", "/device", device_form, "device_form", "public"),
    ("GET", "/api/v1/health", health, "health", "public"),
    # The hosted tracker (devsaas/trackerapi.py): a built-in provider's issues, bound per project.
    ("GET", f"{_TRACKER}/resources/", tracker_resources, "tracker_resources", "user"),
    ("POST", f"{_TRACKER}/bind-resolve/", bind_resolve, "tracker_bind_resolve", "user"),
    ("POST", f"{_TRACKER}/bind-confirm/", bind_confirm, "tracker_bind_confirm", "user"),
    ("POST", f"{_TRACKER}/bind-validate/", bind_validate, "tracker_bind_validate", "user"),
    ("GET", f"{_TRACKER}/status/", tracker_status, "tracker_status", "user"),
    ("GET", f"{_TRACKER}/mappings/", tracker_mappings, "tracker_mappings", "user"),
    ("POST", f"{_TRACKER}/pull/", tracker_pull, "tracker_pull", "user"),
    ("POST", f"{_TRACKER}/push/", tracker_push, "tracker_push", "user"),
    ("POST", f"{_TRACKER}/run/", tracker_run, "tracker_run", "user"),
    ("GET", f"{_TRACKER}/operations/{{operation_id}}/", tracker_operation, "tracker_operation", "user"),
    # Loopback-only admin: this server's own test surface.
    ("POST", "/api/v1/admin/tokens", admin_token_issue, "admin_token_issue", "admin"),
    ("POST", "/api/v1/admin/tokens/revoke", admin_token_revoke, "admin_token_revoke", "admin"),
    ("POST", "/api/v1/admin/device/approve", admin_device_approve, "admin_device_approve", "admin"),
    ("POST", "/api/v1/admin/projects/{project}/members", admin_project_grant, "admin_project_grant", "admin"),
    ("POST", f"{_ADMIN_MISSION}/issues/{{wp_id}}", admin_issue_set, "admin_issue_set", "admin"),
    ("GET", "/api/v1/admin/projects/{project}/tracker-bindings", admin_bindings, "admin_tracker_bindings", "admin"),
    ("POST", "/api/v1/admin/tracker/resources", admin_resource_add, "admin_tracker_resource_add", "admin"),
    ("POST", "/api/v1/admin/tracker/async", admin_async, "admin_tracker_async", "admin"),
    ("GET", "/api/v1/admin/tracker/requests", admin_requests, "admin_tracker_requests", "admin"),
    ("GET", f"{_ADMIN_MISSION}/issues", admin_issues, "admin_issues", "admin"),
    ("GET", "/api/v1/admin/stats", admin_stats, "admin_stats", "admin"),
    ("GET", "/api/v1/admin/events", admin_envelopes, "admin_envelopes", "admin"),
    ("GET", "/api/v1/admin/dossier", admin_dossier, "admin_dossier", "admin"),
    ("GET", "/api/v1/admin/sessions", admin_sessions, "admin_sessions", "admin"),
    ("POST", "/api/v1/admin/projects/{project_uuid}/reject", admin_project_refuse, "admin_project_refuse", "admin"),
    ("DELETE", "/api/v1/admin/projects/{project_uuid}/reject", admin_project_admit, "admin_project_admit", "admin"),
    ("POST", "/api/v1/admin/faults", admin_faults_arm, "admin_faults_arm", "admin"),
    ("DELETE", "/api/v1/admin/faults", admin_faults_clear, "admin_faults_clear", "admin"),
)
_ACCESS: dict[str, Access] = {name: access for _, _, _, name, access in ROUTES}

# aiohttp's own errors (no route, wrong method, body over client_max_size) in the contract's shape.
_JSON_PATHS = ("/api/", "/oauth/")  # answered in JSON even when aiohttp itself refuses the request
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
            authenticate(request)
        elif access == "admin":
            require_loopback(request)
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith(_JSON_PATHS):
            raise
        code = _HTTP_ERROR_CODES.get(exc.status, "http_error")
        return ApiError(exc.status, code, exc.reason).response()
    except Exception:
        if not request.path.startswith(_JSON_PATHS):
            raise
        log.exception("%s %s failed", request.method, request.path)  # the path never holds a token
        return ApiError(500, "internal", "the dev SaaS hit a bug; see its stderr").response()


def make_app(store: Store, *, auto_approve: bool, device_expiry: int, token_ttl: int = TOKEN_TTL,
             allow_remote: bool = False, clock: Clock = time.time, poll_interval: int = POLL_INTERVAL,
             refresh_grace: float = REFRESH_GRACE, refresh_ttl: int = REFRESH_TTL,
             max_batch_bytes: int = MAX_BATCH_BYTES) -> web.Application:
    """The application over ``store``; ``clock`` is the server's time (tests move it by hand)."""
    app = web.Application(middlewares=[_api_middleware], client_max_size=CLIENT_MAX_SIZE)
    app[STORE] = store
    app[CONFIG] = Config(auto_approve=auto_approve, device_expiry=device_expiry, token_ttl=token_ttl,
                         allow_remote=allow_remote, poll_interval=poll_interval, refresh_grace=refresh_grace,
                         refresh_ttl=refresh_ttl, max_batch_bytes=max_batch_bytes)
    app[REQUESTS] = Counter()
    app[CLOCK] = clock
    app[FAULTS] = []
    app[POLLS] = {}
    app[ASYNC] = {}
    app[SEEN] = []
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
    poll_interval: int = POLL_INTERVAL,
    refresh_grace: float = REFRESH_GRACE,
    refresh_ttl: int = REFRESH_TTL,
    max_batch_bytes: int = MAX_BATCH_BYTES,
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
                 allow_remote=allow_remote, poll_interval=poll_interval, refresh_grace=refresh_grace,
                 refresh_ttl=refresh_ttl, max_batch_bytes=max_batch_bytes),
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
