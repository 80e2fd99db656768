"""The rollout gate: the canonical objects the ``specify_cli`` shims re-export."""

from __future__ import annotations

import os

from states.catalog import SAAS_SYNC_DISABLED_MESSAGE, SAAS_SYNC_ENV_VAR

TRUTHY = frozenset({"1", "true", "yes", "y", "on"})

__all__ = ["SAAS_SYNC_ENV_VAR", "is_saas_sync_enabled", "is_truthy", "saas_sync_disabled_message"]


def is_truthy(value: str | None) -> bool:
    """Truthy iff, after strip and casefold, the value is one of ``1 true yes y on``."""
    return value is not None and value.strip().casefold() in TRUTHY


def is_saas_sync_enabled() -> bool:
    """Whether this machine opted in to hosted SaaS sync (read fresh on every call)."""
    return is_truthy(os.environ.get(SAAS_SYNC_ENV_VAR))


def saas_sync_disabled_message() -> str:
    """The sentence shown to callers that reach a hosted feature on a machine that did not opt in."""
    return SAAS_SYNC_DISABLED_MESSAGE
