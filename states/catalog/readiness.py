"""The readiness machine's wording: a failure per state and its variants, the host's refusals,
what each state means, and the machine's contract as ``diagrams/README.md`` words it.
"""

from __future__ import annotations

from states.catalog.base import (
    LOGIN_ACTION,
    SAAS_SYNC_DISABLED_MESSAGE,
    SAAS_SYNC_ENV_VAR,
    SYNC_DISABLE_ENV_VAR,
    ExitCode,
    Failure,
)

# --- readiness failures, keyed by state name (see states.machine.STATE_ORDER) -----------------------
DISABLED = Failure(SAAS_SYNC_DISABLED_MESSAGE, f"Set `{SAAS_SYNC_ENV_VAR}=1` and retry.")
UNAUTHED = Failure("No SaaS authentication token is present.", LOGIN_ACTION)
NO_HOST = Failure(
    "No SaaS host URL is configured.", "Run `spec-kitty config set sync.server_url <url>`."
)
# Operator output calls a mission a "mission"; this sentence alone keeps "feature": the quickstart
# quotes it byte for byte.
UNBOUND = Failure("No tracker binding exists for feature `{slug}`.", "Run `spec-kitty tracker bind`.")
UNREACHABLE = Failure(
    "The SaaS host `{url}` did not respond within 2 seconds.", "Check your network connection and retry."
)
# The probe passed but the client then lost the host (after its retries): "within 2 seconds" would be
# untrue there, so it gets its own sentence (queued events stay queued either way).
CONNECTION_LOST = Failure(
    "The SaaS host `{url}` stopped responding; queued events are kept.", "Check your network connection and retry."
)

# --- remote-side failures -------------------------------------------------------------------------------
SESSION_EXPIRED = Failure("Your SaaS session has expired.", LOGIN_ACTION)
SERVER_ERROR = Failure(
    "The SaaS host `{url}` answered with an error: {detail}.", "Retry later; queued events are kept."
)
NOT_BOUND_REMOTE = Failure(
    "The SaaS host `{url}` has no binding for mission `{slug}`.", "Run `spec-kitty tracker bind`."
)

# --- SaaS refusals no retry would help (one line: ``Error: <line>``) ------------------------------------
SAAS_INVALID_URL = "`{url}` is not a valid SaaS URL."
SAAS_REDIRECT = (
    "The SaaS host `{url}` answered with a redirect (HTTP {status}){where}; "
    "not following it (check the configured host URL)."
)
SAAS_REDIRECT_TARGET = " to `{location}`"
SAAS_DEVICE_ANSWER = "The SaaS host answered `{code}`."
SAAS_REFUSED = "The SaaS host `{url}` refused the request: {detail}."
SAAS_UNEXPECTED_ANSWER = "The SaaS host `{url}` sent an unexpected answer to {what}."
SYNC_NOTHING_ACKED = "The SaaS host `{url}` acknowledged none of the {count} events sent; they stay queued."

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

STATUS_UNAVAILABLE = "Hosted sync: unknown ({error})"
STATUS_HOSTED = "Hosted sync: {label}"

# --- what each readiness state means (diagrams/README.md and `sync explain`) --------------------------
STATE_NOTES: dict[str, str] = {
    "Disabled": "The rollout flag is off: hosted commands do not exist and nothing touches the network.",
    "Unauthed": (
        "Hosted sync is enabled, but there is no usable session for the effective host (none stored, "
        "only other hosts' sessions, or one past its expiry that cannot be refreshed)."
    ),
    "NoHost": "A token is stored, but neither the environment nor the config file names a SaaS host.",
    "Unbound": "The current mission has no tracker binding in the repository's `.kittify/config.toml`.",
    "Ready": "Every local prerequisite holds; a command that talks to the host may now probe it.",
    "Unreachable": "The host did not answer a bounded probe (2 seconds, one attempt).",
    "Daemon_auto": (
        "Policy `auto`: work for the background daemon is handed to it (a command's job once the host "
        "answers a probe; the daemon's own syncs meet the host themselves)."
    ),
    "Daemon_manual": "Policy `manual`: no daemon is started and the host is not probed.",
    "Daemon_off": f"`{SYNC_DISABLE_ENV_VAR}` forbids a background daemon; one-shot syncs still work.",
}

# --- the machine's contract, as diagrams/README.md words it -------------------------------------------
PATHS_INTRO = (
    "`settle` (`states/machine.py`) is the machine's contract with a command: `advance` along the "
    "prerequisites until the chain reaches the command's need (or a fact is missing: the command stops "
    "there), then fire the triggers its intent names (`INTENT_TRIGGERS`), then proceed unless the machine "
    "rests in a stop state. The daemon asks too: `daemon` with need `Unauthed` every tick (may a background "
    "daemon live here?) and with need `Ready` before each sync."
)
DAEMON_COMPOSITE_NOTE = (
    "One state of the picture, three of the machine ({children}): `dispatch` picks the child from "
    "`SPEC_KITTY_SYNC_DISABLE` and `[sync].background_daemon`, first match wins."
)
RUN_OUTCOMES_INTRO = (
    "Not states of the machine: endings a command the machine let through can still meet while it talks "
    "to the host (from {sources}); the client raises them with this wording."
)
DAEMON_RETIRE_REASONS: dict[str, str] = {  # the daemon log's "retiring: <reason>", keyed by the machine's state
    "Disabled": "hosted sync is not enabled",
    "Daemon_manual": "the policy is now manual",
    "Daemon_off": f"{SYNC_DISABLE_ENV_VAR} is set",
}

# --- unreachable, refused and TLS failures, each in its own words -------------------------------------
UNREACHABLE_REFUSED = Failure(
    "The SaaS host `{url}` refused the connection (nothing is listening there).",
    "Check the host URL and that the SaaS is running, then retry.",
)
UNREACHABLE_NO_NAME = Failure(
    "The SaaS host name in `{url}` could not be resolved.", "Check the host URL and your network's DNS, then retry."
)
HOST_REFUSED = Failure(
    "The SaaS host `{url}` refused the connection; queued events are kept.",
    "Check the host URL and that the SaaS is running, then retry.",
)
TLS_FAILED = Failure(
    "The TLS connection to `{url}` failed ({reason}).",
    "Check that the host serves https on that port (a local dev SaaS speaks plain http) and that its "
    "certificate is trusted.",
)
