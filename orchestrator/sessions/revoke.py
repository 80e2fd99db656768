"""Giving a session back: revoke it on its own host (RFC 7009, the reference client's
``auth/flows/revoke.py``), then forget the local copy whatever the host said.

The revoke request itself is ``SaasClient.revoke``; what is sent where, and that the local copy goes
either way, is decided here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.sessions.store import Session, remove_session

if TYPE_CHECKING:
    from orchestrator.context import ClientFactory


def revoke(session: Session, clients: ClientFactory | None = None) -> bool:
    """Revoke the session on its own host (RFC 7009); False when the host did not answer.

    Any other answer counts as revoked: RFC 7009 servers say 200 even for an unknown token, and a
    refusal leaves nothing we could do but delete the local copy anyway.
    """
    from orchestrator.saas.client import SaasClient, run_with_client
    from orchestrator.saas.errors import HostUnreachable, SaasError, ServerFailed

    if not session.server_url:  # a session from the old file that never named its host
        return False
    from orchestrator.errors import ConfigError
    from orchestrator.home.config import validate_url

    try:  # a hand-edited session for plain http to a remote host: never send it the token in clear
        validate_url(session.server_url)
    except ConfigError:
        return False

    if session.legacy:  # its host spoke the previous protocol: nothing of the new one to call
        return True

    async def call(client: SaasClient) -> None:
        if session.refresh_token:  # the reference client revokes the refresh token: the session ends
            await client.revoke(session.refresh_token, "refresh_token")
        else:
            await client.revoke(session.access_token, "access_token")

    try:
        (clients or run_with_client)(session.server_url, None, call, retries=1, timeout=10)
    except (HostUnreachable, ServerFailed):
        return False
    except SaasError:
        return True
    return True


def log_out(session: Session, clients: ClientFactory | None = None) -> bool:
    """Revoke ``session`` on its host, then delete it locally (other hosts' sessions stay); False when
    the host did not answer, so the operator can be told the session may still be live there."""
    revoked = revoke(session, clients)
    remove_session(session.server_url)
    return revoked
