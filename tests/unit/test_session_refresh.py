"""What the sessions room decides around a refresh (``orchestrator.sessions.refresh``).

Given a stored session for one host and a refresh grant that answers as a host would (the outside
world, faked), when the session is renewed, then the store holds what the host gave, another
process's newer token is adopted without a request, and a refused refresh forgets the refresh token.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.saas.errors import RefreshReplayed, RequestFailed, SessionExpired
from orchestrator.sessions.refresh import due, renew
from orchestrator.sessions.store import Credentials, Session, read_sessions, write_session

HOST = "https://saas.example"
PAST = "2001-01-01T00:00:00Z"


def stored(access: str = "skd_old-access-0000", expires_at: str = PAST) -> Session:
    session = Session(access, HOST, expires_at=expires_at, refresh_token="skd_refresh-0000", grant="device")
    write_session(session)
    return session


class Grant:
    """The refresh grant as the host answers it: a new token, or a refusal."""

    def __init__(self, answer: dict[str, Any] | None = None, refusal: Exception | None = None) -> None:
        self.answer = answer or {"access_token": "skd_new-access-0000", "expires_in": 3600}
        self.refusal = refusal
        self.calls: list[str] = []

    async def __call__(self, refresh_token: str) -> dict[str, Any]:
        self.calls.append(refresh_token)
        if self.refusal is not None:
            raise self.refusal
        return self.answer


def refused(status: int) -> RequestFailed:
    error = RequestFailed("refused")
    error.status = status
    return error


def test_a_due_session_is_renewed_once_and_the_store_holds_the_new_token() -> None:
    creds = Credentials(stored())
    grant = Grant()
    assert due(creds)
    assert asyncio.run(renew(creds, grant, force=False)) is True
    assert grant.calls == ["skd_refresh-0000"]
    assert creds.session.access_token == "skd_new-access-0000"
    assert read_sessions().sessions[creds.origin].access_token == "skd_new-access-0000"


def test_a_token_another_process_already_stored_is_adopted_without_a_request() -> None:
    creds = Credentials(stored())
    stored("skd_theirs-access-0000", expires_at="2099-01-01T00:00:00Z")
    grant = Grant()
    assert asyncio.run(renew(creds, grant, force=False)) is True
    assert grant.calls == []
    assert creds.session.access_token == "skd_theirs-access-0000"


@pytest.mark.parametrize("status", [400, 401])
def test_a_refused_refresh_forgets_the_refresh_token_and_says_expired(status: int) -> None:
    creds = Credentials(stored())
    with pytest.raises(SessionExpired) as raised:
        asyncio.run(renew(creds, Grant(refusal=refused(status)), force=True))
    assert raised.value.status == 401
    assert read_sessions().sessions[creds.origin].refresh_token is None


def test_a_replayed_refresh_ahead_of_expiry_keeps_the_token_in_hand() -> None:
    creds = Credentials(stored(expires_at="2099-01-01T00:00:00Z"))
    assert asyncio.run(renew(creds, Grant(refusal=RefreshReplayed("replayed")), force=False)) is False
    assert read_sessions().sessions[creds.origin].refresh_token == "skd_refresh-0000"
