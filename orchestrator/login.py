"""Getting a SaaS session: the RFC 8628 device flow, or a token piped in by a script.

On success the session is written to ``auth.json`` (0600, atomic) and the host is recorded in
``[sync].server_url`` so later commands talk to the host the operator logged in to.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from orchestrator import config
from orchestrator.auth import Session, write_session
from orchestrator.errors import SpecKittyError
from states import catalog


class LoginFailed(SpecKittyError):
    """The device flow ended without a token (expired, denied)."""


def resolve_host(option: str | None, facts_host: str | None) -> str:
    """``--host``, else env / config (as the facts resolved them), else the default hosted dev SaaS."""
    return str(config.validate_url(option or facts_host or config.DEFAULT_HOST)) or config.DEFAULT_HOST


def _store(host: str, token: str, profile: dict[str, object]) -> Session:
    session = Session(
        access_token=token,
        server_url=host,
        expires_at=str(profile.get("expires_at") or "") or None,
        login=str(profile.get("login") or "") or None,
    )
    write_session(session)
    config.set_raw("sync.server_url", host)
    return session


def login_with_token(host: str, token: str) -> Session:
    """Check a piped-in token against the host (whoami), then store it."""
    import asyncio  # network code is imported where it is used

    from orchestrator.client import SaasClient

    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise SpecKittyError(catalog.TOKEN_STDIN_INVALID)

    async def check() -> dict[str, object]:
        async with SaasClient(host, token) as client:
            return await client.whoami()

    return _store(host, token, asyncio.run(check()))


def login_with_device(host: str, prompt: Callable[[str, str], None],
                      clock: Callable[[], float] = time.monotonic) -> Session:
    """Run the device flow: show the code, poll at the server's interval until approved or expired."""
    import asyncio

    from orchestrator.client import (
        DeviceAccessDenied,
        DeviceCodeExpired,
        DevicePending,
        DeviceSlowDown,
        SaasClient,
    )

    async def flow() -> tuple[str, dict[str, object]]:
        async with SaasClient(host, None) as client:
            grant = await client.device_code()
            prompt(str(grant.get("verification_uri_complete") or grant["verification_uri"]),
                   str(grant["user_code"]))
            interval = float(grant.get("interval") or 5)
            deadline = clock() + float(grant.get("expires_in") or 600)
            while clock() < deadline:
                await asyncio.sleep(interval)
                try:
                    issued = await client.device_token(str(grant["device_code"]))
                except DevicePending:
                    continue
                except DeviceSlowDown:
                    interval += 5
                    continue
                except DeviceCodeExpired:
                    break
                except DeviceAccessDenied:
                    raise LoginFailed(catalog.LOGIN_DENIED) from None
                return str(issued["access_token"]), dict(issued.get("user") or {}, **{
                    "expires_at": issued.get("expires_at")})
            raise LoginFailed(catalog.LOGIN_CODE_EXPIRED)

    token, profile = asyncio.run(flow())
    return _store(host, token, profile)
