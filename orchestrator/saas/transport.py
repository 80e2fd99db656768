"""The SaaS client's transport: one aiohttp session, bounded, retried, never leaking the token.

Imported only on remote paths (through ``client``), so local commands never pay for aiohttp. Every
endpoint module (``client`` for OAuth and identity, ``events``, ``tracker``) sends through ``_json``.
Design points:

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
- *Refreshed once, by one process*: shortly before ``expires_at``, or once after a 401, the session is
  renewed (``orchestrator.sessions.refresh`` decides when, under which lock and what is stored; the
  grant itself is ``refresh``, an OAuth call of ``SaasClient``).
- *Errors are typed* (``errors``): 401 is the catalog's expired session, a host that stops answering
  after the retries the catalog's connection-lost line ("stopped responding; queued events are kept"),
  a missing remote binding the catalog's not-bound line; anything else one line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import aiohttp

from orchestrator import __version__
from orchestrator.errors import CatalogFailure
from orchestrator.home.limits import CONNECT_TIMEOUT, READ_TIMEOUT, deadline_seconds
from orchestrator.saas.errors import (
    DeadlinePassed,
    HostUnreachable,
    NoSessionForHost,
    RequestFailed,
    RetryLater,
    SaasError,
    SessionExpired,
    TlsFailed,
    refusal,
    refused,
    tls_reason,
)
from orchestrator.sessions import refresh as refreshing
from orchestrator.sessions.store import Credentials, Session, valid_token
from states import catalog

log = logging.getLogger("spec_kitty.client")

DEFAULT_TIMEOUT = 30.0  # seconds per attempt, connect to last byte (a 500-row gzip batch is ~100 KiB)
MAX_RESPONSE_BYTES = 16 * 1024 * 1024  # an answer larger than this (compressed or inflated) is refused
DEFAULT_RETRIES = 3  # after the first attempt
BACKOFF_BASE = 0.5  # seconds; pauses are uniform in [0, min(cap, base * 2**attempt)]
BACKOFF_CAP = 4.0
RETRY_AFTER_CAP = 30.0  # a server asking for longer gets this; the daemon retries later anyway
API = "/api/v1"
FORM = "application/x-www-form-urlencoded"


class Transport:
    """The bounded, retried, token-guarding HTTP session every endpoint call goes through."""

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
        return f"{type(self).__name__}({self.base_url!r})"

    @property
    def _token(self) -> str | None:
        """The token this client may send to its base URL (None for another origin's session)."""
        return self._creds.for_origin(self.base_url) if self._creds is not None else None

    async def __aenter__(self) -> Self:
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

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """The refresh grant: an OAuth call, spoken by ``SaasClient`` (``client.py``) beside its siblings."""
        raise NotImplementedError

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
        if auth and refreshing.due(self._creds, self.clock):
            await refreshing.renew(self._creds, self._trade, force=False, clock=self.clock)
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
                if last_try or not auth or self._creds is None or \
                        not await refreshing.renew(self._creds, self._trade, force=True, clock=self.clock):
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

    async def _trade(self, refresh_token: str) -> dict[str, Any]:
        """The refresh grant's answer, refused unless it carries a token a header can carry."""
        issued = await self.refresh(refresh_token)
        if not valid_token(issued.get("access_token")):
            raise self._malformed("token refresh")
        return issued

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
                raise self._fail(TlsFailed(catalog.TLS_FAILED.filled(url=self.base_url, reason=tls_reason(exc)))) \
                    from None
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                # Only a failed connect proves the request never left; otherwise a non-idempotent call
                # may have happened on the server, and repeating it would do it twice.
                unsent = isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
                if attempt >= self.retries or not (idempotent or unsent):
                    lost = catalog.HOST_REFUSED if refused(exc) else catalog.CONNECTION_LOST
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
                    raise self._fail(refusal(self.base_url, status, data, location, mission, self._token), status)
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
        from orchestrator.sessions.store import SOURCE_ENV

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
