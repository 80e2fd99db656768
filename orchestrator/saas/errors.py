"""What the SaaS client raises, and which answer of the host becomes which error.

Cheap to import (no aiohttp, no asyncio): a command's failure path and the login's error handling
catch these types without paying for the network code. ``refusal`` reads a final non-2xx answer the
way the reference client does (OAuth ``{error, error_description}``, the batch's ``{error, details}``,
the tracker's ``{error_code, error_category, message, retryable, user_action_required}``, a 412's
``sync_protocol.upgrade_guidance``); ``scrub`` keeps secrets out of whatever the host echoed.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.errors import CatalogFailure, SpecKittyError
from states import catalog
from states.contract import one_line

STALE_BINDING = frozenset({"binding_not_found", "mapping_disabled", "project_mismatch"})  # saas_service.py


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


class RequestFailed(SaasError):
    """Any other refusal (4xx, a redirect, a malformed answer): one line, no retry would help."""


class RefreshReplayed(SaasError):
    """``409 refresh_replay_benign_retry``: another process rotated this refresh token a moment ago."""


class ProtocolMismatch(CatalogFailure, SaasError):
    """``412``: the host speaks another sync protocol; its upgrade guidance is in the message."""


class RetryLater(CatalogFailure, SaasError):
    """The host asked for a pause (``Retry-After``) that ends after this command's deadline."""


class DeadlinePassed(CatalogFailure, SaasError):
    """The call did not finish within its deadline."""


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


def _describe(status: int, code: str | None, detail: str) -> str:
    """``HTTP 413 too_large (more than 5000 rows)``: the detail only when it adds something."""
    text = f"HTTP {status}" + (f" {code}" if code else "")
    if detail and detail.strip().lower() != (code or "").replace("_", " "):
        text += f" ({detail})"
    return one_line(text)


def tls_reason(exc: BaseException) -> str:
    """The TLS library's own reason (``WRONG_VERSION_NUMBER``, ``CERTIFICATE_VERIFY_FAILED``), else the kind."""
    cause = getattr(exc, "os_error", None) or getattr(exc, "certificate_error", None) or exc
    reason = getattr(cause, "reason", None) or getattr(cause, "verify_message", None)
    return one_line(str(reason), 80) if reason else type(exc).__name__


def refused(exc: BaseException) -> bool:
    """Whether a failed connect was refused (nothing listens there), as opposed to timing out or resetting."""
    import errno

    cause = getattr(exc, "os_error", None) or exc
    return isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED


def refusal(base_url: str, status: int, data: bytes, location: str, mission: str, token: str | None) -> SaasError:
    """The typed error for a final non-2xx answer (status, code, detail and body attached; the caller
    still scrubs the session's own tokens from it)."""
    import json

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
        detail = scrub(str(words), token)  # before _describe shortens it
    if 300 <= status < 400:
        where = catalog.SAAS_REDIRECT_TARGET.format(location=one_line(location, 120)) if location else ""
        error: SaasError = RequestFailed(catalog.SAAS_REDIRECT.format(url=base_url, status=status, where=where))
    elif status == 412:
        error = ProtocolMismatch(catalog.SYNC_PROTOCOL_MISMATCH.filled(
            url=base_url, guidance=one_line(_guidance(parsed) or detail or f"HTTP {status}")))
    elif status == 409 and code == "refresh_replay_benign_retry":
        error = RefreshReplayed(catalog.REFRESH_REPLAYED)
    elif status == 404 and code == "not_bound":
        error = NotBoundRemote(catalog.NOT_BOUND_REMOTE.filled(url=base_url, slug=mission))
    elif status == 400 and code in _DEVICE_ERRORS:
        error = _DEVICE_ERRORS[code](catalog.SAAS_DEVICE_ANSWER.format(code=code))
    elif status == 400 and code == "invalid_grant":
        error = DeviceFlowError(catalog.LOGIN_CODE_INVALID)
    elif envelope and status < 500 and status != 429:
        assert isinstance(parsed, dict)
        error = RequestFailed(_tracker_line(base_url, parsed, detail))
    elif status >= 500 or status == 429:
        error = ServerFailed(catalog.SERVER_ERROR.filled(url=base_url, detail=_describe(status, code, detail)))
    else:
        error = RequestFailed(catalog.SAAS_REFUSED.format(url=base_url, detail=_describe(status, code, detail)))
    error.detail = _describe(status, code, detail)
    error.body = parsed if isinstance(parsed, dict) else None
    error.status = status
    if code is not None:
        error.code = code
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
