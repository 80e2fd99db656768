"""Getting a SaaS session: the RFC 8628 device flow, a piped-in token; asking a host about one (``check_session``).

A login adds or replaces the session for that host's origin only (other hosts' sessions stay). When
no host is configured yet the host is also recorded in ``[sync].server_url``, so the next command
talks to the host the operator just logged in to; a configured host is never changed behind the
operator's back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NamedTuple

from orchestrator.errors import CatalogFailure, SpecKittyError
from orchestrator.home import config
from orchestrator.sessions.store import Credentials, Session, valid_token, write_session
from states import catalog

if TYPE_CHECKING:
    from orchestrator.context import ClientFactory

# Bounds on what a device-code answer may ask of us: a negative or tiny interval must not poll
# thousands of times a second, a huge expires_in must not poll forever.
MIN_INTERVAL, MAX_INTERVAL, DEFAULT_INTERVAL = 1.0, 60.0, 5.0
MIN_EXPIRES_IN, MAX_EXPIRES_IN, DEFAULT_EXPIRES_IN = 10.0, 1800.0, 600.0


class LoginFailed(SpecKittyError):
    """The device flow ended without a token (expired, denied)."""


def resolve_host(option: str | None, facts_host: str | None) -> str:
    """``--host``, else env / config (as the facts resolved them), else the default hosted dev SaaS."""
    if option:
        return config.validate_source(option, "--host") or config.DEFAULT_HOST
    return str(config.validate_url(facts_host or config.DEFAULT_HOST)) or config.DEFAULT_HOST


def clamp(value: object, low: float, high: float, default: float) -> float:
    """A server-supplied number of seconds, forced into ``[low, high]`` (junk becomes ``default``)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    if number != number:  # NaN
        return default
    return min(high, max(low, number))


@contextmanager
def _login_errors(host: str) -> Iterator[None]:
    """During login a dead or too slow host is "did not respond", a failing one says to retry the login (no
    queue is involved, so no sentence about queued events), and a 401 is a rejected token."""
    from orchestrator.saas.errors import DeadlinePassed, HostUnreachable, RetryLater, ServerFailed, SessionExpired

    try:
        yield
    except (HostUnreachable, DeadlinePassed):
        raise CatalogFailure(catalog.LOGIN_UNREACHABLE.filled(url=host)) from None
    except ServerFailed as error:  # the host's own words stay; only the next action is the login's
        raise CatalogFailure(error.failure._replace(next_action=catalog.LOGIN_RETRY_LATER)) from None
    except RetryLater as error:
        raise CatalogFailure(catalog.LOGIN_BUSY.filled(url=host)._replace(
            next_action=error.failure.next_action)) from None
    except SessionExpired:
        raise SpecKittyError(catalog.LOGIN_TOKEN_REJECTED) from None


def _store(host: str, session: Session) -> Session:
    write_session(session)
    if not str(config.lookup(config.read_config(), "sync.server_url") or "").strip():
        config.set_raw("sync.server_url", host)
    return session


def _identified(host: str, session: Session, me: dict[str, object]) -> Session:
    """The session with its account and teams from ``/api/v1/me``; refused when the account has no team
    (the reference client refuses it too: events are synced under the private team)."""
    identified = session.with_identity(me)
    if not identified.teams:
        raise LoginFailed(catalog.LOGIN_NO_TEAM)
    return identified


def login_with_token(host: str, token: str, clients: ClientFactory | None = None) -> Session:
    """Check a piped-in token against the host (``/api/v1/me``), then store it with who it belongs to."""
    from orchestrator.saas.client import SaasClient, run_with_client  # network code is imported where it is used

    token = token.strip()
    if not valid_token(token):
        raise SpecKittyError(catalog.TOKEN_STDIN_INVALID)

    async def check(client: SaasClient) -> dict[str, object]:
        return await client.me()

    with _login_errors(host):
        me = (clients or run_with_client)(host, token, check, retries=1)
    return _store(host, _identified(host, Session(token, host, grant="token"), me))


def login_with_device(host: str, prompt: Callable[[str, str, float], None],
                      clock: Callable[[], float] = time.monotonic,
                      note: Callable[[str], None] | None = None, clients: ClientFactory | None = None) -> Session:
    """Run the device flow (``POST /oauth/device``, then ``/oauth/token`` at the server's clamped interval
    until approved, denied or expired), then ask ``/api/v1/me`` who approved it."""
    import asyncio

    from orchestrator.saas.client import SaasClient, run_with_client
    from orchestrator.saas.errors import DeviceAccessDenied, DeviceCodeExpired, DevicePending, DeviceSlowDown

    async def flow(client: SaasClient) -> Session:
        grant = await client.device_code()
        url, code = _shown_grant(host, grant)
        lifetime = clamp(grant.get("expires_in"), MIN_EXPIRES_IN, MAX_EXPIRES_IN, DEFAULT_EXPIRES_IN)
        prompt(url, code, lifetime)
        interval = clamp(grant.get("interval"), MIN_INTERVAL, MAX_INTERVAL, DEFAULT_INTERVAL)
        deadline = clock() + lifetime
        while clock() < deadline:
            await asyncio.sleep(interval)
            try:
                issued = await client.device_token(str(grant["device_code"]))
            except DevicePending:
                continue
            except DeviceSlowDown:  # RFC 8628 3.5: five seconds more, for this and every later poll
                interval = min(MAX_INTERVAL, interval + 5)
                if note is not None:
                    note(catalog.LOGIN_SLOW_DOWN_NOTE.format(interval=interval))
                continue
            except DeviceCodeExpired:
                break
            except DeviceAccessDenied:
                raise LoginFailed(catalog.LOGIN_DENIED) from None
            return await _session_from(host, issued)
        raise LoginFailed(catalog.LOGIN_CODE_EXPIRED)

    with _login_errors(host):
        session = (clients or run_with_client)(host, None, flow, retries=1)
    return _store(host, session)


async def _session_from(host: str, issued: dict[str, object]) -> Session:
    """A token answer made a session: what the host gave, and who ``/api/v1/me`` says it is."""
    from orchestrator.saas.client import SaasClient

    token = issued.get("access_token")
    if not valid_token(token):
        raise LoginFailed(catalog.SAAS_UNEXPECTED_ANSWER.format(url=host, what="the token answer"))
    if not issued.get("session_id"):  # the reference client needs it too (session-status, revoke)
        raise LoginFailed(catalog.LOGIN_NO_SESSION_ID)
    session = Session("x", host, grant="device").renewed(dict(issued), time.time())
    async with SaasClient(host, Credentials(session)) as identity:
        me = await identity.me()
    return _identified(host, session, me)


def _shown_grant(host: str, grant: dict[str, object]) -> tuple[str, str]:
    """The URL and code the operator is shown, refused unless each is what it claims to be: the host's
    text goes to the terminal, so an http(s) URL and a code of printable characters without spaces (a
    newline or an escape sequence would forge lines or drive the terminal), and a device code to poll with."""
    from urllib.parse import urlsplit

    def refuse(field: str) -> LoginFailed:
        return LoginFailed(catalog.SAAS_UNEXPECTED_ANSWER.format(
            url=host, what=catalog.DEVICE_GRANT_FIELD.format(field=field)))

    def word(value: object) -> bool:
        return isinstance(value, str) and bool(value) and value.isprintable() and " " not in value

    field = "verification_uri_complete" if grant.get("verification_uri_complete") else "verification_uri"
    url = grant.get(field)
    if not word(url) or urlsplit(str(url)).scheme.lower() not in ("http", "https") or not urlsplit(str(url)).netloc:
        raise refuse(field)
    if not word(grant.get("user_code")):
        raise refuse("user_code")
    if not word(grant.get("device_code")):
        raise refuse("device_code")
    return str(url), str(grant["user_code"])


class Checked(NamedTuple):
    """What the host said of a session (``auth status --check``, ``sync explain --probe``): ``valid`` is
    None when it could not say (no answer), ``error`` the wording of the rejection or of the failure."""

    valid: bool | None
    error: str | None = None
    login: str | None = None  # who the host says the token belongs to (an env token's only source of it)


def check_session(session: Session, clients: ClientFactory | None = None) -> Checked:
    """Ask the session's own host who it belongs to (``GET /api/v1/me``), as ``gh auth status`` does: a
    stored session the host no longer accepts (revoked, expired there) or a rejected env token is invalid,
    whatever the local expiry says. A stored session due for refresh is refreshed on the way, as any
    command would."""
    from orchestrator.saas.client import SaasClient, run_with_client
    from orchestrator.saas.errors import SaasError, SessionExpired
    from orchestrator.sessions.store import SOURCE_ENV

    if not session.server_url:
        return Checked(None, catalog.AUTH_ENV_NO_HOST.message)

    async def call(client: SaasClient) -> dict[str, object]:
        return await client.me()

    try:
        me = (clients or run_with_client)(session.server_url, Credentials(session), call, retries=0, timeout=10)
    except SessionExpired as rejected:
        if session.source == SOURCE_ENV:
            return Checked(False, rejected.failure.message)
        return Checked(False, catalog.SESSION_REJECTED.message.format(url=session.server_url))
    except SaasError as error:
        return Checked(None, str(error.failure.message if isinstance(error, CatalogFailure) else error))
    return Checked(True, login=Session("-", session.server_url).with_identity(me).login)
