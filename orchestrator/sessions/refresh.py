"""Refreshing a session: when to, who does it, and what is stored afterwards.

The refresh grant itself is one HTTP call the SaaS client makes (``SaasClient.refresh``, the reference
client's ``auth/flows/refresh.py``); everything around it is decided here:

- *when*: shortly before ``expires_at`` (``due``), or once after a 401;
- *by one process*: under the origin's inter-process refresh lock (other hosts never wait on it), the
  store is read again; a token another process already stored is adopted and no request is made (50
  commands, one refresh);
- *what is stored*: the renewed session on success; on a refused refresh (400/401) the session without
  its refresh token, so the next command is told, without the network, that the session has expired;
  on ``409 refresh_replay_benign_retry`` (the refresh token was rotated a moment ago, by another
  process or by us with the answer lost) whatever the store holds now, else the token in hand while it
  is still valid.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from orchestrator.saas.errors import RefreshReplayed, SaasError, SessionExpired
from orchestrator.sessions.store import REFRESH_MARGIN, Credentials, locked, read_sessions, store_locked
from states import catalog

Trade = Callable[[str], Awaitable[dict[str, Any]]]  # refresh token -> the host's token answer


def due(creds: Credentials | None, clock: Callable[[], float] = time.time) -> bool:
    """Whether a refreshable session is within ``REFRESH_MARGIN`` of its expiry (refresh before sending)."""
    return creds is not None and creds.refreshable() and creds.session.expired(clock(), REFRESH_MARGIN)


def expired() -> SessionExpired:
    """The catalog's expired session, as a 401 would have raised it."""
    error = SessionExpired(catalog.SESSION_EXPIRED)
    error.status = 401
    return error


async def renew(creds: Credentials | None, trade: Trade, *, force: bool,
                clock: Callable[[], float] = time.time) -> bool:
    """Renew ``creds`` in place under the store's lock; True when a different token is now in hand.

    ``trade`` sends the refresh grant and returns the host's answer with a valid ``access_token`` (or
    raises). ``force``: after a 401, so the token in hand is known bad even if it has not expired.
    ``clock``: what "expired" is measured against (the command's context; a test fixes it).
    """
    if creds is None or not creds.refreshable():
        return False
    started_with = creds.session.access_token
    with locked(origin_key=creds.origin) as path:  # per origin: another host's commands never wait
        current = read_sessions(path).sessions.get(creds.origin)
        if current is None:
            return False
        if current.access_token != started_with and (force or not current.expired(clock(), REFRESH_MARGIN)):
            creds.adopt(current)
            return True
        if current.refresh_token is None:
            return False
        try:
            issued = await trade(current.refresh_token)
        except RefreshReplayed:
            # The refresh token was rotated a moment ago: by another process (the reference client
            # shares no lock with us), whose session is in the store; or by us, with the answer lost
            # on the way. Read the store again; else, ahead of expiry, the token in hand still works.
            again = read_sessions(path).sessions.get(creds.origin)
            if again is not None and again.access_token != started_with:
                creds.adopt(again)
                return True
            if not force and not current.expired(clock()):
                return False
            raise expired() from None
        except SaasError as refused:
            if refused.status in (400, 401):
                store_locked(path, current._replace(refresh_token=None), creds.origin)
                raise expired() from None
            raise
        renewed = current.renewed(issued, clock())
        store_locked(path, renewed, creds.origin)
        creds.adopt(renewed)
        return True
