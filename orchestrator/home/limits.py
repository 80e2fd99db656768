"""How long anything that talks to the host may take (README "Deadlines and proxies").

Stdlib only and tiny, so the daemon client (which must not import aiohttp) and the SaaS client share
the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

CONNECT_TIMEOUT = 3.0  # seconds to open the connection (TCP + TLS, or through the proxy)
READ_TIMEOUT = 5.0  # seconds without a single byte from the host: a host that accepts and never answers
DEFAULT_DEADLINE = 10.0  # seconds for one call to the host, every attempt, pause and Retry-After included
DEADLINE_ENV_VAR = "SPEC_KITTY_SYNC_DEADLINE"  # overrides DEFAULT_DEADLINE (seconds; tests use a small one)
JOB_DEADLINES = 3  # `tracker sync run` waits this many call deadlines for its daemon job, then reports


def deadline_seconds(env: Mapping[str, str] | None = None) -> float:
    """The per-call deadline: ``SPEC_KITTY_SYNC_DEADLINE`` if it is a positive number, else 10 s."""
    raw = (env if env is not None else os.environ).get(DEADLINE_ENV_VAR, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_DEADLINE
    return value if 0 < value < 86400 else DEFAULT_DEADLINE
