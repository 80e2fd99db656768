"""The daemon's settings, re-read on every tick so ``spec-kitty config set`` applies to a running daemon.

Whether a background daemon may live here at all is the readiness machine's answer (``DAEMON_LIFE``:
the rollout flag, ``SPEC_KITTY_SYNC_DISABLE``, then ``[sync].background_daemon``), never a rule of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple


class Settings(NamedTuple):
    """Why the machine says no daemon is wanted here (None: it may live), and its idle period."""

    retire: str | None
    idle_seconds: int


def read_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Ask the machine; defaults (live, default idle period) when the config is unreadable."""
    from orchestrator.context import Context
    from orchestrator.errors import ConfigError
    from orchestrator.facts import LiveFacts
    from orchestrator.home.config import DEFAULT_IDLE_SECONDS
    from states.catalog import DAEMON_RETIRE_REASONS
    from states.machine import DAEMON_LIFE, settle

    facts = LiveFacts(Context(cwd=Path.home(), env=env))
    try:
        verdict = settle(facts, DAEMON_LIFE)
        idle_seconds = facts.daemon_idle_seconds
    except (ConfigError, ValueError, TypeError):
        return Settings(None, DEFAULT_IDLE_SECONDS)
    return Settings(None if verdict.proceed else DAEMON_RETIRE_REASONS[verdict.state], idle_seconds)
