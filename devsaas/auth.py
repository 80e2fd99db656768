"""Device approval rules shared by every door that approves or denies a device code.

The verification page (``pages``) and the admin approve endpoint (``admin``) both decide through
``decide_device``, so a person and a test meet the same rules; ``oauth`` serves the protocol's
device and token endpoints that create and redeem the codes.
"""

from __future__ import annotations

import logging
import re

from devsaas.api import ApiError
from devsaas.store import Store

log = logging.getLogger("spec_kitty.devsaas")


def normalize_user_code(value: str) -> str:
    """Accept what a human types: lower case, spaces, missing dash."""
    compact = re.sub(r"[\s-]", "", value).upper()
    return f"{compact[:4]}-{compact[4:]}" if len(compact) == 8 else compact


def decide_device(store: Store, user_code: str, login: str, approve: bool, at: float) -> None:
    """Shared by the HTML form and the admin endpoint so both enforce the same rules."""
    code = store.device_by_user_code(normalize_user_code(user_code))
    if code is None:
        raise ApiError(404, "not_found", f"no device code {user_code!r}")
    if at >= code.expires_at:
        raise ApiError(400, "expired_token", f"device code {code.user_code} has expired")
    if code.status == "pending":
        store.decide_device(code.device_code, login if approve else None, approve)
        log.info("device code %s %s for %s", code.user_code, "approved" if approve else "denied", login)
        return
    # Repeating the decision already taken is a no-op; reversing it is refused.
    already_approved = code.status in ("approved", "consumed")
    if already_approved != approve:
        raise ApiError(409, "conflict", f"device code {code.user_code} was already {code.status}")
