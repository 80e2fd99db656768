"""Every operator-facing sentence and exit code, in one place.

Wording and exit codes are a contract with operators and their scripts: tests assert these strings
byte for byte, so a change here is a deliberate, reviewable change of that contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (click uses 2 for usage errors; we keep that meaning)."""

    OK = 0
    FAILURE = 1
    USAGE = 2


@dataclass(frozen=True)
class Failure:
    """A message naming what is wrong plus exactly one next action."""

    message: str
    next_action: str
    exit_code: ExitCode = ExitCode.FAILURE
    gap: bool = True  # failures separate the next action by a blank line; policy notes do not

    def render(self) -> str:
        """The stdout form: message, (blank line,) the next action."""
        sep = "\n\n" if self.gap else "\n"
        return f"{self.message}{sep}{self.next_action}"


SAAS_SYNC_ENV_VAR = "SPEC_KITTY_ENABLE_SAAS_SYNC"
SYNC_DISABLE_ENV_VAR = "SPEC_KITTY_SYNC_DISABLE"
SAAS_URL_ENV_VAR = "SPEC_KITTY_SAAS_URL"
HOME_ENV_VAR = "SPEC_KITTY_HOME"

SAAS_SYNC_DISABLED_MESSAGE = (
    f"Hosted SaaS sync is not enabled on this machine. Set `{SAAS_SYNC_ENV_VAR}=1` to opt in."
)

LOGIN_ACTION = "Run `spec-kitty auth login`."

# --- readiness failures, keyed by state name (see states.machine.STATE_ORDER) -----------------------
DISABLED = Failure(SAAS_SYNC_DISABLED_MESSAGE, f"Set `{SAAS_SYNC_ENV_VAR}=1` and retry.")
UNAUTHED = Failure("No SaaS authentication token is present.", LOGIN_ACTION)
NO_HOST = Failure(
    "No SaaS host URL is configured.", "Run `spec-kitty config set sync.server_url <url>`."
)
UNBOUND = Failure("No tracker binding exists for feature `{slug}`.", "Run `spec-kitty tracker bind`.")
UNREACHABLE = Failure(
    "The SaaS host `{url}` did not respond within 2 seconds.", "Check your network connection and retry."
)

# --- remote-side failures -------------------------------------------------------------------------------
SESSION_EXPIRED = Failure("Your SaaS session has expired.", LOGIN_ACTION)
SERVER_ERROR = Failure(
    "The SaaS host `{url}` answered with an error: {detail}.", "Retry later; queued events are kept."
)
NOT_BOUND_REMOTE = Failure(
    "The SaaS host `{url}` has no binding for feature `{slug}`.", "Run `spec-kitty tracker bind`."
)

# --- daemon policy outcomes (exit 0: the operator chose this) -----------------------------------------
DAEMON_MANUAL = Failure(
    'Background sync is in manual mode (`[sync].background_daemon = "manual"`).',
    "Run `spec-kitty sync run` to perform a one-shot remote sync.",
    ExitCode.OK,
    gap=False,
)
DAEMON_DISABLED = Failure(
    f"Background sync is disabled by `{SYNC_DISABLE_ENV_VAR}`.",
    "Run `spec-kitty sync run` to perform a one-shot remote sync.",
    ExitCode.OK,
    gap=False,
)

# --- one-line labels for `spec-kitty status` (flag on only) ------------------------------------------
STATUS_LABELS: dict[str, str] = {
    "Disabled": "disabled",
    "Unauthed": "not logged in (run `spec-kitty auth login`)",
    "NoHost": "no host configured (run `spec-kitty config set sync.server_url <url>`)",
    "Unbound": "mission not bound (run `spec-kitty tracker bind`)",
    "Unreachable": "host unreachable",
    "Ready": "ready",
    "Daemon_auto": "ready (background daemon: auto)",
    "Daemon_manual": "ready (background daemon: manual)",
    "Daemon_off": "ready (background daemon disabled)",
}

# --- local command wording -------------------------------------------------------------------------
NOT_A_PROJECT = "No spec-kitty project here (no `kitty-specs/` folder found)."
NO_MISSIONS = "No missions found under `{path}`."
MALFORMED_LINE = "warning: {path}:{line}: skipped malformed line ({reason})"
MALFORMED_AUTH = "warning: {path} is malformed and was ignored."
