"""The SaaS HTTP client (docs/api.md): one aiohttp session, bounded, retried, never leaking the token.

The only module outside the daemon and dev SaaS that imports aiohttp, and itself imported only on
remote paths, so local commands never pay for it. Design points:

- *Bounded*: every attempt has a total timeout; retries are few and their pauses capped, so a dead
  host turns into the catalog's "stopped responding" within seconds instead of hanging a terminal.
- *Retried only when safe*: exponential backoff with full jitter (clients never stampede a recovering
  host in lock-step) on connection errors, 429 (``Retry-After`` honoured, capped) and 5xx, for calls the
  contract makes idempotent. ``device_code`` mints a new code each time, so it is retried only when the
  request provably never left (connect failed) or the server refused it (429).
- *The token goes to the origin that issued it only*: it is attached only when the request's origin is
  the session's (``Credentials.for_origin``), redirects are never followed (a 3xx is an error), and
  no exception message, ``repr`` or log line carries it; aiohttp errors, whose ``request_info`` holds
  the headers, are never chained into ours.
- *Refreshed once, by one process*: shortly before ``expires_at``, or once after a 401, the client
  trades the refresh token for a new session under its origin's inter-process lock (waited for a
  bounded time; other hosts never wait on it); whoever gets the lock second finds the new token
  already stored and uses it (50 commands, one refresh).
- *Errors are typed*: 401 is the catalog's expired session, a host that stops answering after the
  retries the catalog's connection-lost line ("stopped responding; queued events are kept"), a
  missing remote binding the catalog's not-bound line; anything else one line.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from orchestrator import __version__
from orchestrator.errors import CatalogFailure, SpecKittyError
from orchestrator.home.limits import CONNECT_TIMEOUT, READ_TIMEOUT, deadline_seconds
from orchestrator.sessions.auth import (
    REFRESH_MARGIN,
    Credentials,
    Session,
    locked,
    read_sessions,
    store_locked,
    valid_token,
)
from states import catalog
from states.contract import EVENTS_BATCH_PATH, SYNC_PROTOCOL, one_line

log = logging.getLogger("spec_kitty.client")

DEFAULT_TIMEOUT = 30.0  # seconds per attempt, connect to last byte (a 500-row gzip batch is ~100 KiB)
MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # an answer larger than this (compressed or inflated) is refused
DEFAULT_RETRIES = 3  # after the first attempt
BACKOFF_BASE = 0.5  # seconds; pauses are uniform in [0, min(cap, base * 2**attempt)]
BACKOFF_CAP = 4.0
RETRY_AFTER_CAP = 30.0  # a server asking for longer gets this; the daemon retries later anyway
GZIP_LEVEL = 3  # ~2.5x faster than the default 6 on 2 MB batches, output ~14% bigger: the better trade
API = "/api/v1"
CLIENT_ID = "cli_native"  # the reference client's OAuth client (auth/config.py)
OAUTH_SCOPE = "offline_access"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
FORM = "application/x-www-form-urlencoded"
TRACKER_API = f"{API}/tracker"
TRACKER_LIMIT = 100  # the reference client's default page
POLL_FIRST = 0.05  # seconds before the first poll of a 202's operation; doubling, capped
POLL_CAP = 2.0
STALE_BINDING = frozenset({"binding_not_found", "mapping_disabled", "project_mismatch"})  # saas_service.py

T = TypeVar("T")


# --- errors -------------------------------------------------------------------------------------------
class SaasError(SpecKittyError):
    """Anything the client raises; ``status``/``code`` are the HTTP status and contract error code,
    ``detail`` the server's own explanation (scrubbed of secrets, one line)."""

    status: int | None = None
    code: str = SpecKittyError.code  # the contract's error code when the host sent one
    detail: str = ""
    body: dict[str, Any] | None = None  # the host's JSON answer, for callers that read more than the code


class SessionExpired(CatalogFailure, SaasError):
    """401: the token is unknown, revoked or expired."""


class NoSessionForHost(CatalogFailure, SaasError):
    """The client holds no session for the origin it was asked to talk to (never sends another's)."""


class HostUnreachable(CatalogFailure, SaasError):
    """No answer (connection refused, reset, timed out) after the retries."""


class ServerFailed(CatalogFailure, SaasError):
    """The host kept answering 5xx / 429 after the retries."""


class NotBoundRemote(CatalogFailure, SaasError):
    """The host has no binding for the mission (``404 not_bound``)."""


class TlsFailed(CatalogFailure, SaasError):
    """The TLS handshake failed: plain http on that port, or a certificate this machine does not trust."""


def _tls_reason(exc: BaseException) -> str:
    """The TLS library's own reason (``WRONG_VERSION_NUMBER``, ``CERTIFICATE_VERIFY_FAILED``), else the kind."""
    cause = getattr(exc, "os_error", None) or getattr(exc, "certificate_error", None) or exc
    reason = getattr(cause, "reason", None) or getattr(cause, "verify_message", None)
    return one_line(str(reason), 80) if reason else type(exc).__name__


def _refused(exc: BaseException) -> bool:
    """Whether a failed connect was refused (nothing listens there), as opposed to timing out or resetting."""
    import errno

    cause = getattr(exc, "os_error", None) or exc
    return isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED


class RequestFailed(SaasError):
    """Any other refusal (4xx, a redirect, a malformed answer): one line, no retry would help."""


class RefreshReplayed(SaasError):
    """``409 refresh_replay_benign_retry``: another process rotated this refresh token a moment ago."""


class ProtocolMismatch(CatalogFailure, SaasError):
    """``412``: the host speaks another sync protocol; its upgrade guidance is in the message."""


class DeviceFlowError(SaasError):
    """The device-token endpoint said no; subclasses name the RFC 8628 answers the login loop handles."""


class DevicePending(DeviceFlowError):
    """``authorization_pending``: keep polling."""


class DeviceSlowDown(DeviceFlowError):
    """``slow_down``: keep polling, less often."""


class DeviceCodeExpired(DeviceFlowError):
    """``expired_token``: the code timed out before anyone approved it."""


class DeviceAccessDenied(DeviceFlowError):
    """``access_denied``: someone pressed Deny."""


_DEVICE_ERRORS: dict[str, type[DeviceFlowError]] = {
    "authorization_pending": DevicePending,
    "slow_down": DeviceSlowDown,
    "expired_token": DeviceCodeExpired,
    "access_denied": DeviceAccessDenied,
}


_SECRETS = re.compile(
    r"(?i)(bearer\s+|(?:access_|refresh_|api[_-]?)?token[\"']?\s*[=:]\s*[\"']?|password[\"']?\s*[=:]\s*[\"']?"
    r"|authorization[\"']?\s*[=:]\s*[\"']?)(?!\[)[^\s\"',;}&]+"
)
_TOKENISH = re.compile(r"\bskd?_[A-Za-z0-9_-]{8,}")


def scrub(text: str, token: str | None = None) -> str:
    """A server's words with anything secret-looking replaced, before any shortening (a cut in the
    middle of a token would otherwise leave its prefix behind)."""
    if token:
        text = text.replace(token, "[token]")
    text = _SECRETS.sub(lambda m: m.group(1) + "[redacted]", text)
    return _TOKENISH.sub("[redacted]", text)


class RetryLater(CatalogFailure, SaasError):
    """The host asked for a pause (``Retry-After``) that ends after this command's deadline."""


class DeadlinePassed(CatalogFailure, SaasError):
    """The call did not finish within its deadline."""


def _describe(status: int, code: str | None, detail: str) -> str:
    """``HTTP 413 too_large (more than 5000 rows)``: the detail only when it adds something."""
    text = f"HTTP {status}" + (f" {code}" if code else "")
    if detail and detail.strip().lower() != (code or "").replace("_", " "):
        text += f" ({detail})"
    return one_line(text)


class SaasClient:
    """``async with SaasClient(url, token) as client: await client.me()``."""

    def __init__(
        self,
        base_url: str,
        token: str | Credentials | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = BACKOFF_BASE,
        max_backoff: float = BACKOFF_CAP,
        max_retry_after: float = RETRY_AFTER_CAP,
        deadline: float | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        max_body: int = MAX_RESPONSE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        if isinstance(token, str) and token:  # a bare token (login, tests) is for this base URL only
            token = Credentials(Session(token, self.base_url, source="token"))
        self._creds: Credentials | None = token or None
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.deadline = deadline if deadline is not None else deadline_seconds()
        self.connect_timeout = min(connect_timeout, self.deadline)
        self.read_timeout = min(read_timeout, self.deadline)
        self.max_body = max_body
        self.clock = clock  # what "the session is due for a refresh" compares against (a test fixes it)
        self._session: aiohttp.ClientSession | None = None
        self._last_status: int | None = None  # of the last 2xx answer (a tracker 202 is polled)

    def __repr__(self) -> str:
        return f"SaasClient({self.base_url!r})"

    @property
    def _token(self) -> str | None:
        """The token this client may send to its base URL (None for another origin's session)."""
        return self._creds.for_origin(self.base_url) if self._creds is not None else None

    async def __aenter__(self) -> SaasClient:
        # trust_env: HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply, as they do for spec-kitty itself
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout, sock_connect=self.connect_timeout,
                                          sock_read=self.read_timeout),
            trust_env=True,
            headers={"User-Agent": f"spec-kitty-sync/{__version__}", "Accept": "application/json"},
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- endpoints (the reference client's, see docs/api.md) ---------------------------------------
    async def device_code(self) -> dict[str, Any]:
        """RFC 8628 step 1 (``auth/flows/device_code.py``); mints a new code each time, so never retried
        unless the request provably never left."""
        return await self._json("POST", "/oauth/device", form={"client_id": CLIENT_ID, "scope": OAUTH_SCOPE},
                                auth=False, idempotent=False)

    async def device_token(self, device_code: str) -> dict[str, Any]:
        """The token once approved; raises a ``DeviceFlowError`` subclass while it is not."""
        return await self._json("POST", "/oauth/token", form={
            "grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": CLIENT_ID}, auth=False)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """The refresh grant (``auth/flows/refresh.py``): a new access token, usually a new refresh token."""
        return await self._json("POST", "/oauth/token", form={
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}, auth=False)

    async def revoke(self, token: str, hint: str) -> dict[str, Any]:
        """RFC 7009 (``auth/flows/revoke.py``): the whole session ends; the answer is ``{"revoked": true}``."""
        return await self._json("POST", "/oauth/revoke", form={"token": token, "token_type_hint": hint}, auth=False)

    async def me(self) -> dict[str, Any]:
        """Who the token belongs to, and the teams (``GET /api/v1/me``)."""
        return await self._json("GET", f"{API}/me")

    async def batch_takes_requests(self) -> bool:
        """Whether the batch endpoint judges what it is sent: an empty batch is answered ``400 "No events
        provided"`` (the reference client's own probe, ``cli/commands/sync.py``). A host that refuses a
        split batch's every half may be refusing the rows, or every request: only this tells them apart."""
        try:
            await self._json("POST", EVENTS_BATCH_PATH, {"events": []}, headers={
                "X-Spec-Kitty-Sync-Protocol": SYNC_PROTOCOL})
        except RequestFailed as answer:
            return answer.status == 400 and (answer.body or {}).get("error") == "No events provided"
        return True

    @staticmethod
    def events_body(envelopes: list[str]) -> bytes:
        """The gzip batch body for envelope texts. Pure CPU work, so a caller may build the next body in a
        thread meanwhile."""
        body = ('{"events":[' + ",".join(envelopes) + "]}").encode("utf-8")
        return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)

    async def send_events(self, envelopes: list[str] | bytes) -> list[dict[str, Any]]:
        """``POST /api/v1/events/batch/`` (``delivery/receivers.py``): one result per event, each
        ``{"event_id", "status", "error"?, "error_category"?}``. A 400 that names events (``details``)
        comes back as ``rejected`` results for them; one that names none raises, so the caller splits."""
        body = envelopes if isinstance(envelopes, bytes) else self.events_body(envelopes)
        try:
            answer = await self._json("POST", EVENTS_BATCH_PATH, raw=body, headers={
                "Content-Encoding": "gzip", "X-Spec-Kitty-Sync-Protocol": SYNC_PROTOCOL})
        except RequestFailed as refused:
            details = (refused.body or {}).get("details") if refused.status == 400 else None
            rejected = _detail_results(details)
            if not rejected:
                raise
            return rejected
        results = answer.get("results")
        if not isinstance(results, list) or not all(
                isinstance(r, dict) and isinstance(r.get("event_id"), str) and isinstance(r.get("status"), str)
                for r in results):
            raise self._malformed("event upload")
        return results

    # --- the tracker (specify_cli/tracker/saas_client.py; docs/api.md "Tracker") ------------------------
    async def bind_resolve(self, team: str, provider: str, identity: dict[str, Any]) -> dict[str, Any]:
        """``POST bind-resolve/``: ``match_type`` exact (with ``binding_ref``), candidates, or none."""
        return await self._tracker("POST", "bind-resolve/", team, {"provider": provider, "project_identity": identity})

    async def bind_confirm(self, team: str, provider: str, candidate_token: str,
                           identity: dict[str, Any]) -> dict[str, Any]:
        """``POST bind-confirm/`` (a write): ``binding_ref``, ``display_label``, ``provider_context``, ..."""
        return await self._tracker("POST", "bind-confirm/", team, {
            "provider": provider, "candidate_token": candidate_token, "project_identity": identity}, write=True)

    async def bind_validate(self, team: str, provider: str, binding_ref: str,
                            identity: dict[str, Any]) -> dict[str, Any]:
        """``POST bind-validate/``: ``valid`` (and ``reason``/``guidance`` when not)."""
        return await self._tracker("POST", "bind-validate/", team, {
            "provider": provider, "binding_ref": binding_ref, "project_identity": identity})

    async def tracker_status(self, team: str, provider: str, routing: dict[str, str]) -> dict[str, Any]:
        """``GET status/?provider=&binding_ref=`` (or ``project_slug``)."""
        return await self._tracker("GET", "status/", team, params={"provider": provider, **routing})

    async def tracker_pull(self, team: str, provider: str, routing: dict[str, str], *, cursor: str | None,
                           limit: int = TRACKER_LIMIT, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST pull/``: the tracker's changes since ``cursor`` (``items``, ``next_cursor``, ``has_more``)."""
        body: dict[str, Any] = {"provider": provider, **routing, "limit": limit}
        if cursor is not None:
            body["cursor"] = cursor
        if filters is not None:
            body["filters"] = filters
        answer = await self._tracker("POST", "pull/", team, body)
        if not isinstance(answer.get("items", []), list):
            raise self._malformed("tracker pull")
        return answer

    async def tracker_push(self, team: str, provider: str, routing: dict[str, str],
                           items: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST push/`` (a write): one ``PushItem`` per change, one result per item."""
        return await self._tracker("POST", "push/", team, {"provider": provider, **routing, "items": items}, write=True)

    async def tracker_run(self, team: str, provider: str, routing: dict[str, str], *, pull_first: bool = True,
                          limit: int = TRACKER_LIMIT) -> dict[str, Any]:
        """``POST run/`` (a write): a whole cycle on the host's side; usually a 202, polled to its result."""
        return await self._tracker("POST", "run/", team, {
            "provider": provider, **routing, "pull_first": pull_first, "limit": limit}, write=True)

    async def _tracker(self, method: str, path: str, team: str, body: dict[str, Any] | None = None, *,
                       params: dict[str, str] | None = None, write: bool = False) -> dict[str, Any]:
        """One tracker call: bearer, ``X-Team-Slug``, an ``Idempotency-Key`` on a write (the same on each
        retry, so a retried write happens once); a 202 is polled at ``operations/{id}/`` to its result."""
        from urllib.parse import urlencode
        from uuid import uuid4

        headers = {"X-Team-Slug": team}
        if write:
            headers["Idempotency-Key"] = str(uuid4())
        full = f"{TRACKER_API}/{path}" + (f"?{urlencode(params)}" if params else "")
        answer = await self._json(method, full, body, headers=headers, idempotent=True)
        if self._last_status == 202:
            return await self._operation(team, answer)
        return answer

    async def _operation(self, team: str, accepted: dict[str, Any]) -> dict[str, Any]:
        """Poll ``operations/{id}/`` until ``completed`` (its ``result``) or ``failed``, within the deadline."""
        operation = accepted.get("operation_id")
        if not isinstance(operation, str) or not operation.strip():
            raise self._malformed("an asynchronous tracker call (no operation_id)")
        ends = time.monotonic() + self.deadline
        pause = POLL_FIRST
        path = f"{TRACKER_API}/operations/{quote(operation, safe='')}/"
        while True:
            answer = await self._json("GET", path, headers={"X-Team-Slug": team})
            state = answer.get("status")
            if state == "completed":
                result = answer.get("result", answer)
                return result if isinstance(result, dict) else {}
            if state == "failed":
                error = answer.get("error")
                words = error.get("message") if isinstance(error, dict) else error
                raise self._fail(RequestFailed(catalog.TRACKER_OPERATION_FAILED.format(
                    operation=one_line(operation, 80), url=self.base_url,
                    message=one_line(str(words or "no reason given")))))
            if state not in ("pending", "running"):
                raise self._malformed("a tracker operation")
            if time.monotonic() + pause >= ends:
                raise self._fail(DeadlinePassed(catalog.SYNC_DEADLINE.filled(url=self.base_url,
                                                                             seconds=self.deadline)._replace(
                    message=catalog.TRACKER_OPERATION_LATE.format(operation=one_line(operation, 80),
                                                                  url=self.base_url, seconds=self.deadline))))
            await asyncio.sleep(pause)
            pause = min(pause * 2, POLL_CAP)

    # --- transport --------------------------------------------------------------------------------
    @staticmethod
    def _mission(project: str, mission: str) -> str:
        return f"{API}/projects/{quote(project, safe='')}/missions/{quote(mission, safe='')}"

    async def _json(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        auth: bool = True,
        idempotent: bool = True,
        mission: str = "",
    ) -> dict[str, Any]:
        """One call: the parsed JSON object of a 2xx answer (``{}`` when empty), else a typed error.

        ``form`` sends an OAuth request (form-encoded, as RFC 6749 has it); ``body`` JSON."""
        send_headers = dict(headers or {})
        if form is not None:
            from urllib.parse import urlencode

            raw = urlencode(form).encode("ascii")
            send_headers["Content-Type"] = FORM
        if body is not None:
            raw = json.dumps(body).encode("utf-8")
        if raw is not None:
            send_headers.setdefault("Content-Type", "application/json")
        if auth and self._creds is not None:
            await self._refresh_if_due()
        for last_try in (False, True):
            if auth and self._creds is not None:
                token = self._token
                if token is None:
                    raise self._fail(NoSessionForHost(catalog.UNAUTHED_OTHER_HOST.filled(url=self.base_url)))
                send_headers["Authorization"] = f"Bearer {token}"
            try:
                data = await self._send(method, path, raw, send_headers, idempotent=idempotent, mission=mission)
                break
            except SessionExpired:  # once: a refresh (ours or another process's) may have replaced it
                if last_try or not auth or self._creds is None or not await self._refresh(force=True):
                    raise
        else:  # pragma: no cover - the loop always breaks or raises
            raise AssertionError
        if not data.strip():
            return {}
        try:
            parsed = json.loads(data)
        except ValueError:
            raise self._malformed(path) from None
        if not isinstance(parsed, dict):
            raise self._malformed(path)
        return parsed

    async def _refresh_if_due(self) -> None:
        """Refresh before sending when the session is within ``REFRESH_MARGIN`` of its expiry."""
        creds = self._creds
        if creds is not None and creds.refreshable() and creds.session.expired(self.clock(), REFRESH_MARGIN):
            await self._refresh(force=False)

    async def _refresh(self, *, force: bool) -> bool:
        """Renew the session under the store's lock; True when a different token is now in hand.

        Under the lock the store is read again: if another process already replaced the token we
        started with, that token is used and no request is made. A refused refresh forgets the refresh
        token, so the next command is told, without the network, that the session has expired.
        """
        creds = self._creds
        if creds is None or not creds.refreshable():
            return False
        started_with = creds.session.access_token
        with locked(origin_key=creds.origin) as path:  # per origin: another host's commands never wait
            current = read_sessions(path).sessions.get(creds.origin)
            if current is None:
                return False
            if current.access_token != started_with and (force or not current.expired(self.clock(), REFRESH_MARGIN)):
                creds.adopt(current)
                return True
            if current.refresh_token is None:
                return False
            try:
                issued = await self.refresh(current.refresh_token)
                token = issued.get("access_token")
                if not valid_token(token):
                    raise self._malformed("token refresh")
            except RefreshReplayed:
                # The refresh token was rotated a moment ago: by another process (the reference client
                # shares no lock with us), whose session is in the store; or by us, with the answer lost
                # on the way. Read the store again; else, ahead of expiry, the token in hand still works.
                again = read_sessions(path).sessions.get(creds.origin)
                if again is not None and again.access_token != started_with:
                    creds.adopt(again)
                    return True
                if not force and not current.expired(self.clock()):
                    return False
                raise self._fail(SessionExpired(catalog.SESSION_EXPIRED), 401) from None
            except SaasError as refused:
                if refused.status in (400, 401):
                    store_locked(path, current._replace(refresh_token=None), creds.origin)
                    raise self._fail(SessionExpired(catalog.SESSION_EXPIRED), 401) from None
                raise
            renewed = current.renewed(issued, self.clock())
            store_locked(path, renewed, creds.origin)
            creds.adopt(renewed)
            return True

    async def _send(self, method: str, path: str, raw: bytes | None, headers: dict[str, str], *,
                    idempotent: bool, mission: str) -> bytes:
        """The body of a 2xx answer, after retries; every other outcome raises."""
        if self._session is None:
            raise RuntimeError("use `async with SaasClient(...)`")
        url = self.base_url + path
        attempt = 0
        ends = time.monotonic() + self.deadline
        while True:
            wait: float | None = None
            remaining = ends - time.monotonic()
            if remaining <= 0:
                raise self._deadline_passed()
            try:
                timeout = aiohttp.ClientTimeout(total=min(self.timeout, remaining), sock_connect=self.connect_timeout,
                                                sock_read=self.read_timeout)
                async with self._session.request(method, url, data=raw, headers=headers, timeout=timeout,
                                                 allow_redirects=False) as response:
                    status = response.status
                    data = await self._read_capped(response)
                    retry_after = response.headers.get("Retry-After")
                    location = response.headers.get("Location", "")
            except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
                raise self._fail(RequestFailed(catalog.SAAS_INVALID_URL.format(url=self.base_url))) from None
            except (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch) as exc:
                raise self._fail(TlsFailed(catalog.TLS_FAILED.filled(url=self.base_url, reason=_tls_reason(exc)))) \
                    from None
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                # Only a failed connect proves the request never left; otherwise a non-idempotent call
                # may have happened on the server, and repeating it would do it twice.
                unsent = isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
                if attempt >= self.retries or not (idempotent or unsent):
                    lost = catalog.HOST_REFUSED if _refused(exc) else catalog.CONNECTION_LOST
                    raise self._fail(HostUnreachable(lost.filled(url=self.base_url))) from None
                if ends - time.monotonic() <= 0:
                    raise self._deadline_passed() from None
                reason = type(exc).__name__
            else:
                if 200 <= status < 300:
                    self._last_status = status
                    return data
                if status == 401:
                    raise self._fail(SessionExpired(self._rejected()), status)
                retryable = status == 429 or (status >= 500 and idempotent)
                if not retryable or attempt >= self.retries:
                    raise self._refusal(status, data, location, mission)
                reason = f"HTTP {status}"
                asked = self._asked_wait(retry_after)
                if asked is not None and asked > ends - time.monotonic():
                    raise self._retry_later(asked)
                wait = self._retry_after(retry_after)
            if wait is None:
                wait = random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))
            wait = min(wait, max(0.0, ends - time.monotonic()))
            attempt += 1
            log.debug("%s %s: %s; retry %d of %d in %.2fs", method, path, reason, attempt, self.retries, wait)
            await asyncio.sleep(wait)

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, refused past ``max_body`` bytes: the announced length is checked first, then the
        inflated bytes as they arrive, so a gzip bomb stops at the cap instead of filling memory."""
        announced = response.content_length
        if announced is not None and announced > self.max_body:
            raise self._fail(RequestFailed(catalog.SAAS_BODY_TOO_LARGE.format(url=self.base_url, limit=self.max_body)))
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await response.content.read(64 * 1024)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_body:
                raise self._fail(RequestFailed(
                    catalog.SAAS_BODY_TOO_LARGE.format(url=self.base_url, limit=self.max_body)))
            chunks.append(chunk)

    def _rejected(self) -> catalog.Failure:
        """A 401's wording: a token from ``SPEC_KITTY_SAAS_TOKEN`` is named as such (logging in again would
        not help while it is set); a stored session has expired or was revoked."""
        from orchestrator.sessions.auth import SOURCE_ENV

        if self._creds is not None and self._creds.session.source == SOURCE_ENV:
            return catalog.ENV_TOKEN_REJECTED.filled(url=self.base_url)
        return catalog.SESSION_EXPIRED

    def _deadline_passed(self) -> SaasError:
        return self._fail(DeadlinePassed(catalog.SYNC_DEADLINE.filled(url=self.base_url, seconds=self.deadline)))

    def _retry_later(self, seconds: float) -> SaasError:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(time.time() + seconds))
        failure = catalog.SYNC_RETRY_LATER.filled(url=self.base_url, seconds=seconds)
        return self._fail(RetryLater(failure._replace(next_action=failure.next_action.format(when=when))), 429)

    @staticmethod
    def _asked_wait(header: str | None) -> float | None:
        """The pause a ``Retry-After: <seconds>`` header asks for, uncapped (None when absent or odd)."""
        try:
            seconds = float(header) if header is not None else None
        except ValueError:
            return None
        if seconds is None or seconds != seconds or seconds < 0:
            return None
        return seconds

    def _retry_after(self, header: str | None) -> float | None:
        """Seconds from a ``Retry-After: <seconds>`` header, capped; ``None`` (use backoff) otherwise."""
        try:
            seconds = float(header) if header is not None else None
        except ValueError:  # the HTTP-date form: rare for APIs, and backoff is a fine answer to it
            return None
        if seconds is None or seconds != seconds or seconds < 0:
            return None
        return min(seconds, self.max_retry_after)

    def _refusal(self, status: int, data: bytes, location: str, mission: str) -> SaasError:
        """The typed error for a final non-2xx answer."""
        code, detail = None, ""
        try:
            parsed = json.loads(data) if data.strip() else None
        except ValueError:
            parsed = None
        envelope = isinstance(parsed, dict) and isinstance(parsed.get("error_code"), str)
        if isinstance(parsed, dict):
            code = str(parsed["error"]) if isinstance(parsed.get("error"), str) else None
            if envelope:  # the tracker's {error_code, error_category, message, retryable, user_action_required}
                code = str(parsed.get("error_category") or parsed["error_code"])
            words = parsed.get("detail") or parsed.get("error_description") or parsed.get("message") or ""
            detail = scrub(str(words), self._token)  # before _describe shortens it
        if 300 <= status < 400:
            where = catalog.SAAS_REDIRECT_TARGET.format(location=one_line(location, 120)) if location else ""
            error: SaasError = RequestFailed(
                catalog.SAAS_REDIRECT.format(url=self.base_url, status=status, where=where))
        elif status == 412:
            error = ProtocolMismatch(catalog.SYNC_PROTOCOL_MISMATCH.filled(
                url=self.base_url, guidance=one_line(_guidance(parsed) or detail or f"HTTP {status}")))
        elif status == 409 and code == "refresh_replay_benign_retry":
            error = RefreshReplayed(catalog.REFRESH_REPLAYED)
        elif status == 404 and code == "not_bound":
            error = NotBoundRemote(catalog.NOT_BOUND_REMOTE.filled(url=self.base_url, slug=mission))
        elif status == 400 and code in _DEVICE_ERRORS:
            error = _DEVICE_ERRORS[code](catalog.SAAS_DEVICE_ANSWER.format(code=code))
        elif status == 400 and code == "invalid_grant":
            error = DeviceFlowError(catalog.LOGIN_CODE_INVALID)
        elif envelope and status < 500 and status != 429:
            assert isinstance(parsed, dict)
            error = RequestFailed(_tracker_line(self.base_url, parsed, detail))
        elif status >= 500 or status == 429:
            error = ServerFailed(catalog.SERVER_ERROR.filled(url=self.base_url, detail=_describe(status, code, detail)))
        else:
            error = RequestFailed(
                catalog.SAAS_REFUSED.format(url=self.base_url, detail=_describe(status, code, detail)))
        error.detail = _describe(status, code, detail)
        error.body = parsed if isinstance(parsed, dict) else None
        return self._fail(error, status, code)

    def _malformed(self, what: str) -> SaasError:
        return self._fail(RequestFailed(catalog.SAAS_UNEXPECTED_ANSWER.format(url=self.base_url, what=what)))

    def _fail(self, error: SaasError, status: int | None = None, code: str | None = None) -> SaasError:
        """Attach status/code and make sure no message carries the token, whatever a server echoed."""
        error.status = status
        if code is not None:
            error.code = code
        secrets = [self._creds.session.access_token, self._creds.session.refresh_token] if self._creds else []
        for secret in filter(None, secrets):
            error.args = tuple(str(a).replace(secret, "[token]") if isinstance(a, str) else a for a in error.args)
            error.detail = error.detail.replace(secret, "[token]")
            if isinstance(error, CatalogFailure):
                failure = error.failure
                error.failure = failure._replace(message=failure.message.replace(secret, "[token]"))
        return error


def _tracker_line(url: str, envelope: dict[str, Any], detail: str) -> str:
    """A tracker error envelope as one line: the host's message and code, and what to do about it."""
    code = str(envelope.get("error_code") or "")
    if code in STALE_BINDING or envelope.get("error_category") in STALE_BINDING:
        hint = catalog.TRACKER_HINT_REBIND
    elif envelope.get("retryable") is True:
        hint = catalog.TRACKER_HINT_RETRY
    elif envelope.get("user_action_required") is True:
        hint = catalog.TRACKER_HINT_ACTION
    else:
        hint = ""
    return catalog.TRACKER_REFUSED.format(url=url, message=one_line(detail or code).rstrip("."),
                                          code=one_line(code, 60), hint=hint)


def _guidance(parsed: object) -> str:
    """A 412's words for the operator: ``sync_protocol.upgrade_guidance``, else ``error_description``."""
    if not isinstance(parsed, dict):
        return ""
    protocol = parsed.get("sync_protocol")
    if isinstance(protocol, dict) and isinstance(protocol.get("upgrade_guidance"), str):
        return str(protocol["upgrade_guidance"])
    return str(parsed.get("error_description") or "")


def _detail_results(details: object) -> list[dict[str, Any]]:
    """A 400's per-event ``details`` as ``rejected`` results (empty when they name no event)."""
    found: list[dict[str, Any]] = []
    if isinstance(details, dict):
        details = [{"event_id": k, "error": v} for k, v in details.items()]
    if not isinstance(details, list):
        return found
    for entry in details:
        if isinstance(entry, dict) and isinstance(entry.get("event_id"), str):
            found.append({"event_id": entry["event_id"], "status": "rejected",
                          "error": str(entry.get("error") or entry.get("message") or "invalid event"),
                          "error_category": str(entry.get("error_category") or "invalid_event")})
    return found


def run_with_client(base_url: str, token: str | Credentials | None, fn: Callable[[SaasClient], Awaitable[T]],
                    **options: Any) -> T:
    """Run ``fn(client)`` to completion in its own event loop, with a client opened and closed around it.

    The one way synchronous code (a command, the daemon's worker thread) talks to the host: ``token``
    goes to ``SaasClient`` unchanged, so a session still reaches only its own origin; ``options`` are
    the client's (``retries``, ``timeout``, ...).
    """

    async def run() -> T:
        async with SaasClient(base_url, token, **options) as client:
            return await fn(client)

    return asyncio.run(run())
