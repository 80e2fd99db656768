"""The shapes of the catalog (``ExitCode``, ``Failure``) and the names every other part quotes:
the environment variables and the login action.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    """Process exit codes (click uses 2 for usage errors; we keep that meaning)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C
    BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `head` closing a Unix tool's pipe (quietly)


# A NamedTuple, not a dataclass: defining a frozen dataclass costs ~3.6M instructions at import
# (callgrind), a NamedTuple ~0.4M, and this module is on every command's start-up path.
class Failure(NamedTuple):
    """A message naming what is wrong plus exactly one next action."""

    message: str
    next_action: str
    exit_code: ExitCode = ExitCode.FAILURE
    gap: bool = True  # failures separate the next action by a blank line; policy notes do not

    def render(self) -> str:
        """The stdout form: message, (blank line,) the next action."""
        sep = "\n\n" if self.gap else "\n"
        return f"{self.message}{sep}{self.next_action}"

    def filled(self, **fields: object) -> Failure:
        """This entry with its message's ``{placeholders}`` filled in (next action and exit code kept)."""
        return self._replace(message=self.message.format(**fields))


SAAS_SYNC_ENV_VAR = "SPEC_KITTY_ENABLE_SAAS_SYNC"
SYNC_DISABLE_ENV_VAR = "SPEC_KITTY_SYNC_DISABLE"
SAAS_URL_ENV_VAR = "SPEC_KITTY_SAAS_URL"
HOME_ENV_VAR = "SPEC_KITTY_HOME"

SAAS_SYNC_DISABLED_MESSAGE = (
    f"Hosted SaaS sync is not enabled on this machine. Set `{SAAS_SYNC_ENV_VAR}=1` to opt in."
)

LOGIN_ACTION = "Run `spec-kitty auth login`."
