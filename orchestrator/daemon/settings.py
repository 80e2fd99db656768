"""The daemon's settings, re-read on every tick so ``spec-kitty config set`` applies to a running daemon."""

from __future__ import annotations

from pathlib import Path


def read_settings() -> tuple[str, int]:
    """Policy (``auto`` | ``manual``) and idle period in seconds; defaults when the config is unreadable."""
    from orchestrator.config import DEFAULT_IDLE_SECONDS
    from orchestrator.errors import ConfigError
    from orchestrator.facts import LiveFacts

    facts = LiveFacts(cwd=Path.home())
    try:
        return facts.daemon_policy, facts.daemon_idle_seconds
    except (ConfigError, ValueError, TypeError):
        return "auto", DEFAULT_IDLE_SECONDS
