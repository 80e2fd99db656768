"""What the daemon keeps in sync, and how one sync of it runs.

A client sends only what the daemon cannot gather itself (its repository, mission and host env);
the daemon re-reads token, host and binding for every run, so a refreshed token or a `config set`
applies without a restart. The readiness machine decides whether a target may sync, exactly as it
does for ``spec-kitty sync run``.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import CatalogFailure, SpecKittyError
from states.catalog import DAEMON_TARGET_GONE, SAAS_TOKEN_ENV_VAR, SAAS_URL_ENV_VAR

if TYPE_CHECKING:
    from orchestrator.facts import LiveFacts
    from orchestrator.sync.mission_ref import MissionRef


@dataclass(frozen=True)
class TargetKey:
    """What a client asks the daemon to sync: the facts it cannot gather itself (its cwd and env).
    The mission it names on its host, as the queue knows it, is :meth:`ref`."""

    repo_root: str
    mission: str
    saas_url: str = ""  # the client's SPEC_KITTY_SAAS_URL, so the daemon syncs where the client would

    def label(self) -> str:
        return f"{Path(self.repo_root).name}/{self.mission}"

    def facts(self) -> LiveFacts:
        """Fresh facts as the requesting client would see them: its repository, mission and host env.

        Never a token from the environment: one that reached the daemon anyway (a daemon started by an
        older version) would otherwise be attached to every host a client names."""
        from orchestrator.context import Context
        from orchestrator.facts import LiveFacts

        env = {k: v for k, v in os.environ.items() if k != SAAS_TOKEN_ENV_VAR}
        env.pop(SAAS_URL_ENV_VAR, None)
        if self.saas_url:
            env[SAAS_URL_ENV_VAR] = self.saas_url
        return LiveFacts(Context(cwd=Path(self.repo_root), env=env), mission=self.mission)

    def ref(self) -> MissionRef | None:
        """The mission on the host the client's facts name (None while the repository has no identity)."""
        from orchestrator.sync.outbox import mission_ref

        return mission_ref(self.facts())


@dataclass
class Target:
    """One (repository, mission) the daemon keeps in sync, with its schedule and last outcome."""

    key: TargetKey
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: asyncio.Future[dict[str, Any]] | None = None
    running: bool = False
    last_result: dict[str, Any] | None = None
    last_error: dict[str, Any] | None = None
    last_at: str | None = None
    failures: int = 0
    due: float = 0.0


class TargetGone(SpecKittyError):
    """The repository or its binding disappeared: stop syncing it in the background."""


def result_to_json(result: Any) -> dict[str, Any]:
    """A ``SyncResult`` as plain JSON values (paths and datetimes become strings)."""
    data = asdict(result) if is_dataclass(result) and not isinstance(result, type) else dict(vars(result))
    return {k: v if isinstance(v, int | float | str | bool | None | list | dict) else str(v)
            for k, v in data.items()}


def sync_blocking(key: TargetKey) -> dict[str, Any]:
    """Gather fresh facts for the target (token refreshes, config edits apply) and run one sync.

    Runs in a worker thread. The readiness machine decides, as for any command, whether the target
    may sync (``DAEMON_RUN``: the chain to Ready, then the daemon policy); a failure comes back with the
    catalog's wording, so a job that arrives as the policy turns manual answers like the CLI would.
    """
    from orchestrator.sync.run import run_sync
    from orchestrator.tracker.service import sync_target
    from states.machine import DAEMON_RUN, UNBOUND, settle

    if not Path(key.repo_root).is_dir():
        raise TargetGone(DAEMON_TARGET_GONE.format(path=key.repo_root))
    facts = key.facts()
    verdict = settle(facts, DAEMON_RUN)
    if not verdict.proceed:
        assert verdict.outcome is not None
        if verdict.state == UNBOUND:
            raise TargetGone(verdict.outcome.message)
        raise CatalogFailure(verdict.outcome)
    try:
        return result_to_json(run_sync(sync_target(facts)))
    finally:
        release_memory()


def release_memory() -> None:
    """Hand the heap a big sync grew back to the OS, so the daemon returns to its idle footprint.

    A sync frees what it allocated (the scan reads 1 MiB at a time, the drain 500 rows), but glibc
    keeps freed heap pages mapped: after a 100k-row sync the daemon stayed ~20 MiB above idle for
    good. ``malloc_trim`` returns them; elsewhere (another libc) this is a no-op."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
