"""Compatibility shim: the rollout gate, re-exported from ``orchestrator.home.rollout`` (no logic here)."""

from orchestrator.home.rollout import SAAS_SYNC_ENV_VAR, is_saas_sync_enabled, saas_sync_disabled_message

__all__ = ["SAAS_SYNC_ENV_VAR", "is_saas_sync_enabled", "saas_sync_disabled_message"]
