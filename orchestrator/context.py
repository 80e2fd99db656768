"""One invocation's view of the outside world: environment, current folder, clock, home, config, sessions, clients.

Built once at the CLI edge (``cli.main`` puts it in click's ``ctx.obj``, as GitHub CLI's ``cmdutil.Factory``
is built once in ``main``) and handed to every command; the machine's facts are gathered *from* it
(``facts(mission)``), so a test builds a ``Context`` in the state it wants (an env, a folder, a fixed clock,
a fake SaaS client) and runs the command in-process instead of spawning the console script.

Everything is read lazily and at most once: ``--help`` reads one environment variable and pays for no TOML,
auth or network code. This module itself imports nothing heavy (no pathlib, aiohttp, asyncio, ssl, socket):
it is on every command's start-up path (tests/test_imports.py, benchmarks/bench_startup.py).
"""

from __future__ import annotations

import os
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

# The types below exist for the type checker only: a Protocol class or a TypeVar built at import would be
# paid by every command's start-up (``--help`` included) for annotations nobody evaluates at run time.
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from pathlib import Path
    from typing import Protocol, TypeVar

    from orchestrator.facts import LiveFacts
    from orchestrator.saas.client import SaasClient
    from orchestrator.sessions.store import AuthRead, Credentials

    T = TypeVar("T")

    Clock = Callable[[], float]
    """Seconds since the epoch, as ``time.time``: what expiry, refresh and stall decisions compare against."""

    class ClientFactory(Protocol):
        """How a command talks to the host: run ``fn(client)`` with a ``SaasClient`` opened on ``base_url``
        for ``token`` (``orchestrator.saas.client.run_with_client``'s signature). A test passes a fake."""

        def __call__(self, base_url: str, token: str | Credentials | None,
                     fn: Callable[[SaasClient], Awaitable[T]], **options: Any) -> T: ...


def real_clients(base_url: str, token: str | Credentials | None, fn: Callable[[SaasClient], Awaitable[T]],
                 **options: Any) -> T:
    """The real host, through aiohttp: imported only when a command actually goes remote."""
    from orchestrator.saas.client import run_with_client

    return run_with_client(base_url, token, fn, **options)


class Context:
    """Paths, clock, environment, config, session store, client factory and current folder of one invocation.

    ``env`` defaults to this process's environment, ``cwd`` to its current folder, ``clock`` to
    ``time.time`` and ``clients`` to the real SaaS client (whose token refresh reads the same clock).
    ``warnings`` collects what reading the session store had to say (a malformed or refused
    ``auth.json``): the CLI prints them once each, on stderr.

    File locations are still the process's: ``home`` (and so ``config`` and ``sessions``) is where
    ``orchestrator.home.paths`` says, from this process's ``SPEC_KITTY_HOME``/``HOME``, whatever ``env``
    holds; a test that builds a context for another home sets those two in the process too
    (``tests/support/inprocess.py``).
    """

    def __init__(self, *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 clock: Clock | None = None, clients: ClientFactory | None = None, debug: bool = False) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        self._cwd = cwd
        self.clock: Clock = time.time if clock is None else clock
        self.clients: ClientFactory = self._real_clients if clients is None else clients
        self.debug = debug
        self.warnings: list[str] = []
        self._facts: dict[str | None, LiveFacts] = {}

    def _real_clients(self, base_url: str, token: str | Credentials | None,
                      fn: Callable[[SaasClient], Awaitable[T]], **options: Any) -> T:
        """The real host, its refresh decisions taken against this context's clock."""
        return real_clients(base_url, token, fn, **{"clock": self.clock, **options})

    @cached_property
    def cwd(self) -> Path:
        """The folder the command runs in (pathlib costs ~8 ms: ``--help`` never asks)."""
        from pathlib import Path

        return self._cwd or Path.cwd()

    @property
    def home(self) -> Path:
        """``~/.spec-kitty`` (or ``SPEC_KITTY_HOME``), refused unless private: ``orchestrator.home.paths``."""
        from orchestrator.home import paths

        return paths.home()

    @cached_property
    def config(self) -> dict[str, Any]:
        """``config.toml``, read once per invocation."""
        from orchestrator.home.config import read_config

        return read_config()

    @cached_property
    def sessions(self) -> AuthRead:
        """The session store (``auth.json``), read once; what was wrong with it lands in ``warnings``."""
        from orchestrator.sessions.store import read_sessions

        read = read_sessions()
        if read.refused is not None:
            self.warnings.append(read.refused)
        if read.malformed is not None:
            from states.catalog import MALFORMED_AUTH

            self.warnings.append(MALFORMED_AUTH.format(path=read.malformed))
        return read

    def facts(self, mission: str | None = None) -> LiveFacts:
        """The machine's facts for ``mission`` (``--mission``'s handle, or None), gathered once per choice."""
        if mission is not None and not mission.strip():  # `--mission ''` names nothing: never "no handle"
            from orchestrator.errors import UsageProblem
            from states import catalog

            raise UsageProblem(catalog.MISSION_HANDLE_EMPTY.format(handle=repr(mission)))
        if mission not in self._facts:
            from orchestrator.facts import LiveFacts

            self._facts[mission] = LiveFacts(self, mission=mission)
        return self._facts[mission]
