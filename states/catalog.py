"""Every operator-facing sentence and exit code, in one place.

Wording and exit codes are a contract with operators and their scripts: tests assert these strings
byte for byte, so a change here is a deliberate, reviewable change of that contract.
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

# --- local command wording -------------------------------------------------------------------------
KANBAN_HEADER = "Mission {mission}: {wps} work packages, {events} lane events"
KANBAN_LANE = "  {lane:<12}{count:>3}  {wps}"
WP_MOVED = "{wp_id}: {from_lane} -> {to_lane} ({mission}, event {event_id})"
NOT_A_PROJECT = "No spec-kitty project here (no `kitty-specs/` folder found)."
NO_MISSIONS = "No missions found under `{path}`."
MALFORMED_LINE = "warning: {path}:{line}: skipped malformed line ({reason})"
MALFORMED_AUTH = "warning: {path} is malformed and was ignored."
MALFORMED_REASON_JSON = "invalid JSON: {error}"
MALFORMED_REASON_NOT_OBJECT = "not a JSON object"
NO_SPECS_FOLDER = "No `{specs}/` folder here; run this inside a spec-kitty project."
NO_SUCH_MISSION = "No mission `{slug}` under {path}."
UNKNOWN_LANE = "Unknown lane `{lane}`. Lanes: {lanes}."
NOT_A_WP_ID = "`{wp_id}` is not a work package id (expected WP and 1 to 4 ASCII digits, e.g. WP01)."

# --- the CLI edge: a typed error becomes one line on stderr -----------------------------------------
ERROR_LINE = "Error: {error}"
UNEXPECTED_ERROR = "Error: unexpected {kind}: {error} (rerun with --debug for details)"

# --- `spec-kitty config` and the files it reads ----------------------------------------------------
CONFIG_LINE = "{key} = {value}"
CONFIG_NOT_SET = "`{key}` is not set in {path}."
CONFIG_UNKNOWN_KEY = "Unknown key `{key}`. Known keys: {keys}."
CONFIG_NOT_A_TABLE = "`{table}` in {path} is not a table."
CONFIG_UNREADABLE = "Cannot read {path}: {reason}."
CONFIG_NOT_UTF8 = "{path}: not valid UTF-8; fix or remove the file."
CONFIG_INVALID_TOML = "{path}{where}: invalid TOML ({reason}); fix or remove the file."
URL_HAS_CREDENTIALS = "A server URL must not contain credentials."
URL_NOT_HTTP = "`{url}` is not an http(s) URL."
URL_HAS_QUERY = "`{url}` must not carry a query or fragment."
URL_PLAIN_HTTP = "Plain http is allowed only for loopback hosts; use https for `{host}`."
NOT_A_DAEMON_POLICY = "`{value}` is not a daemon policy; use `auto` or `manual`."
NOT_IDLE_SECONDS = "`{value}` is not a number of seconds (5 or more)."

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

# --- hosted command results (`auth`, `tracker`, `sync run`) --------------------------------------------
LOGIN_PROMPT = "To log in, open {url} and confirm the code {code}."
LOGIN_WAITING = "Waiting for approval..."
LOGGED_IN = "Logged in to {url}{who}."
LOGGED_IN_AS = " as {login}"
TOKEN_STDIN_INVALID = "No token on stdin (expected one token, no spaces)."
LOGIN_DENIED = "The login request was denied on the SaaS."
LOGIN_CODE_EXPIRED = "The login code expired before it was approved; run `spec-kitty auth login` again."
LOGIN_CODE_INVALID = "The login code is no longer valid; run `spec-kitty auth login` again."
AUTH_UNKNOWN_HOST = "(unknown host)"
AUTH_UNKNOWN_LOGIN = "(unknown)"
NOT_LOGGED_IN = "Not logged in; nothing to do."
TRACKER_BOUND = "Bound this repository to {provider} `{label}` on {url} (binding {ref}, ownership {mode})."
TRACKER_UNBOUND = "Removed the tracker binding to {provider} `{label}` from {path}."
TRACKER_UNBOUND_HOST_NOTE = (
    "The host keeps its side of the binding (the protocol has no call to end it); unlink it in the SaaS dashboard."
)
TRACKER_CANDIDATES_HEADING = "Several tracker resources can be bound on {url}:"
TRACKER_CANDIDATE_ROW = "  {number}. {provider}: {label} ({reason})"
TRACKER_CANDIDATES_PICK = "Run `spec-kitty tracker bind --select N` (with `--provider P` to narrow) to pick one."
TRACKER_NOTHING_TO_BIND = "The SaaS host `{url}` offers no tracker resource to bind{which}."
TRACKER_NOTHING_FOR_PROVIDER = " for provider `{provider}`"
TRACKER_SELECT_OUT_OF_RANGE = "--select {number} is out of range: {count} candidate(s) on {url}."
TRACKER_BIND_REF_INVALID = "The SaaS host `{url}` did not accept binding `{ref}`: {reason}."
TRACKER_UNKNOWN_PROVIDER = "`{provider}` is not a SaaS-backed tracker provider (one of: {choices})."
TRACKER_BAD_OWNERSHIP = "`{mode}` is not an ownership mode (one of: {choices})."
TRACKER_SELECT_AND_REF = "--select and --bind-ref cannot be combined."
TRACKER_NO_SHARED_TEAM = (
    "The session for `{url}` has {count} shared (non-private) teams; the tracker needs exactly one."
)
TRACKER_REFUSED = "The SaaS tracker on `{url}` refused the request: {message} (`{code}`){hint}."
TRACKER_HINT_RETRY = "; retry later"
TRACKER_HINT_ACTION = "; action required in the Spec Kitty dashboard"
TRACKER_HINT_REBIND = "; run `spec-kitty tracker bind` again"
TRACKER_OPERATION_FAILED = "The tracker operation `{operation}` on `{url}` failed: {message}."
TRACKER_OPERATION_LATE = (
    "The tracker operation `{operation}` on `{url}` did not finish within {seconds:g}s; it may still complete."
)
TRACKER_MIGRATED = "Converted the old tracker binding in {old} to the `tracker:` block of {new}."
TRACKER_MIGRATED_REMOVED = "Removed the old tracker binding in {old}."
TRACKER_STATUS = "Tracker: {provider} `{label}` on {url} (binding {ref}, ownership {mode})."
TRACKER_REMOTE_STATUS = "Host: {state} ({path}), {issues} issue(s), last sync {last}."
TRACKER_MISSION = "Mission `{mission}`:"
TRACKER_LEGACY_STATUS = "Tracker: the old binding in {path} (project `{project}`); the next sync or bind converts it."
TRACKER_LAST_SYNC = "Last sync: {time} ({pushed} pushed, {pulled} pulled{error})."
TRACKER_LAST_SYNC_ERROR = ", error: {error}"
TRACKER_NEVER_SYNCED = "Last sync: never."
QUEUED_EVENTS = "Queued events: {queued}."
SYNC_SUMMARY = "Synced mission `{mission}` with {url}: {pushed} pushed, {pulled} pulled, {queued} still queued."
SYNC_PROGRESS_LABEL = "Uploading events"

# --- `spec-kitty sync explain` ----------------------------------------------------------------------
EXPLAIN_HEADING = "Hosted sync readiness for mission `{slug}`:"
EXPLAIN_STATE = "State: {state}"
EXPLAIN_ROW = "  {mark} {label}  {source}"
EXPLAIN_PROBE_LABEL = "host answers"
EXPLAIN_NOT_PROBED = "not probed (add --probe)"
EXPLAIN_NO_HOST_TO_PROBE = "no host to probe"
EXPLAIN_PROBE_SOURCE = "probe {url}"
EXPLAIN_DAEMON = "Background daemon policy: {policy} ({source})"
EXPLAIN_EVENTS = (
    "Event sync: each lane row as a `WPStatusChanged` envelope to `{endpoint}` (sync protocol {protocol}); "
    "needs a session and a host, not a binding."
)
EXPLAIN_READY = Failure(
    "Hosted sync is ready for mission `{slug}`.", "Run `spec-kitty sync run` to sync now.", ExitCode.OK, gap=True
)
DIAGRAM_NEEDS_GRAPHVIZ = (
    "SVG diagrams need Graphviz: install the `dot` program (for example `apt-get install graphviz` or "
    "`brew install graphviz`) and the Python package (`pip install 'spec-kitty-sync[diagrams]'`)."
)
EXPLAIN_DIAGRAM_WITH_JSON = "--diagram and --json cannot be combined."

# --- the background sync daemon (`tracker sync run`, `sync daemon status|stop`, `status`) --------------
DAEMON_FALLBACK = "The background sync daemon is unavailable ({reason}); syncing in this process instead."
DAEMON_REASON_TIMEOUT = "it did not answer within {seconds:g} seconds"
DAEMON_REASON_SPAWN = "it could not be started: {error}"
DAEMON_REASON_EXITED = "it exited right after starting; see the daemon log"
DAEMON_REASON_LOST = "it stopped answering"
DAEMON_TARGET_GONE = "{path} no longer exists"
DAEMON_LINE_RUNNING = "Sync daemon: running (pid {pid}, version {version}, up {uptime})"
DAEMON_LINE_NOT_ANSWERING = "Sync daemon: not answering (pid {pid})"
DAEMON_LINE_STARTING = "Sync daemon: starting (pid {pid})"
DAEMON_LINE_NOT_RUNNING = "Sync daemon: not running"
DAEMON_STATUS_QUEUED = QUEUED_EVENTS
DAEMON_STATUS_LAST_SYNC = (
    "Last sync: {time}, mission `{mission}`: {pushed} pushed, {pulled} pulled, {queued} still queued."
)
DAEMON_STATUS_NEVER = "Last sync: none yet."
DAEMON_STATUS_LAST_ERROR = "Last error: {time}, mission `{mission}`: {message}"
DAEMON_STATUS_NO_ERROR = "Last error: none."
DAEMON_STATUS_TARGET = "Keeping in sync: mission `{mission}` in {repo_root} (next run in {next_in:g}s)."
DAEMON_STATUS_LOG = "Log: {path}"
DAEMON_STOPPED = "Sync daemon stopped (pid {pid})."
DAEMON_NOT_RUNNING = "Sync daemon is not running; nothing to stop."
DAEMON_STOP_FAILED = "The sync daemon (pid {pid}) did not stop within {seconds} seconds."

# --- missions: handles, the lane machine, several missions (issue 8) -------------------------------
MISSION_UNKNOWN = "No mission matches `{handle}` under {path}."
MISSION_AMBIGUOUS = "`{handle}` names more than one mission; use the full slug."
MISSION_REQUIRED = "This repository has {count} missions; choose one with --mission (slug, number or id prefix)."
MISSION_CANDIDATE = "  {name}"
LANE_REFUSED = (
    "Refusing {wp_id}: {from_lane} -> {to_lane} is not an allowed lane move; {reachable} "
    "(or pass --force with --reason)."
)
LANE_REACHABLE = "from {from_lane} it may move to {lanes}"
LANE_REACHABLE_NONE = "{from_lane} is a terminal lane"
FORCE_NEEDS_REASON = "--force requires --reason (spec-kitty records why a move was forced)."
MISSION_SUMMARY = "{slug}: {wps} work packages{counts}"
MISSION_SUMMARY_COUNTS = " ({counts})"
MISSION_SUMMARY_COUNT = "{lane} {count}"
TRACKER_LANES = "Lanes: {counts} ({events} lane events)."
TRACKER_NO_LANES = "Lanes: no work packages yet."

# --- sync trust (issue 10): dead letters, conflicts, deadlines, `sync status`, queue files -----------
PARK_REASON_NOT_JSON = "malformed: not JSON ({error})"
PARK_REASON_NOT_OBJECT = "malformed: not a JSON object"
PARK_REASON_NO_EVENT_ID = "malformed: no string `event_id`"
PARK_REASON_BAD_WP = "malformed: `wp_id` is not a work package id (WP and 1 to 4 ASCII digits)"
PARK_REASON_TOO_LARGE = "too large: {size} bytes, one request carries at most {limit}"
PARK_REASON_REFUSED = "refused by the SaaS host: {detail}"
PARK_REASON_NO_TIME = "malformed: a lane row without `at` (no time to send it with)"
PARKED_NONE = "Nothing is parked for mission `{mission}`."
PARKED_UNKNOWN = "Not parked: {ref}"
RETRIED_LINE = "Re-queued: {ref}"
RETRY_STILL_PARKED = "Still parked: {ref} ({reason})"
DROPPED_LINE = "Dropped: {ref}"
PARK_NAME_REQUIRED = "Name the parked rows (as `sync status` lists them) or pass --all."
SYNC_PARKED_NOTE = "{count} row(s) parked; see `spec-kitty sync status`."
CONFLICT_LINE = (
    "Conflict: {wp_id} moved here (to {local_lane}) and on the SaaS (to {remote_lane}) since the last sync; "
    "kept {local_lane}, the SaaS change stays in its change log."
)
# `external_authoritative` (or `split_ownership` with the status field owned by the tracker): the tracker wins
CONFLICT_LINE_TRACKER = (
    "Conflict: {wp_id} moved here (to {local_lane}) and on the tracker (to {remote_lane}) since the last sync; "
    "the tracker owns the status: applied {remote_lane} as a forced transition."
)
TRACKER_WINS_REASON = "tracker is authoritative (ownership mode {mode}): {remote_lane} replaces {local_lane}"
SYNC_STATUS_HEADING = "Mission `{mission}` on {url}:"
SYNC_STATUS_QUEUED = "  Queued: {queued} (oldest waiting {age})"
SYNC_STATUS_QUEUED_NONE = "  Queued: 0"
SYNC_STATUS_LAST_SUCCESS = "  Last success: {time}"
SYNC_STATUS_LAST_ERROR = "  Last error: {time}: {error}"
SYNC_STATUS_LAST_ERROR_NONE = "  Last error: none"
SYNC_STATUS_NONE = "none"
SYNC_STATUS_PARKED = "  Parked: {count}"
SYNC_STATUS_PARKED_ROW = "    {ref}: {reason}"
SYNC_STATUS_CONFLICTS = "  Conflicts: {count}"
SYNC_STATUS_CONFLICT_ROW = "    {time} {wp_id}: kept {local_lane}, SaaS had {remote_lane}"
SYNC_STATUS_CONFLICT_ROW_TRACKER = "    {time} {wp_id}: applied the tracker's {remote_lane}, here it was {local_lane}"
SYNC_STATUS_DAEMON = "Sync daemon: {daemon}"
SYNC_STATUS_NO_BINDINGS = "No mission of this repository is bound to a tracker."
DAEMON_RUNNING_WORD = "running"
DAEMON_NOT_RUNNING_WORD = "not running"
DAEMON_DIED_WORD = "died with work pending"
STALL_WARNING = (
    "warning: {queued} event(s) for mission `{mission}` have waited {age} and no sync daemon is running; "
    "run `spec-kitty sync run`."
)
QUEUE_UNUSABLE = "The sync queue `{path}` cannot be used ({error}). {action}"
QUEUE_ACTION_CORRUPT = "Move it aside; the mission logs still hold every event and the next sync re-queues them."
QUEUE_ACTION_BUSY = "Another spec-kitty process holds it; retry in a moment."
QUEUE_ACTION_FULL = "Free disk space and retry."
QUEUE_ACTION_PERMS = "Make it a regular file and folder owned and writable by you, then retry."
QUEUE_NOT_YOURS = "it is a symlink or not owned by you"
LOG_UNREADABLE = "The mission log `{path}` cannot be read ({error}). Make it readable by you and retry."
ENQUEUE_SKIPPED = "warning: the row is in the log but was not queued ({error}); the next sync picks it up."
SYNC_DEADLINE = Failure(
    "The SaaS host `{url}` did not finish within {seconds:g} seconds; queued events are kept.",
    "Check your network connection and retry.",
)
SYNC_RETRY_LATER = Failure(
    "The SaaS host `{url}` asked to wait {seconds:g} seconds, past this command's deadline; queued events are kept.",
    "Retry after {when}.",
)
DAEMON_JOB_SLOW = Failure(
    "The background sync daemon has not finished this sync within {seconds:g} seconds; it keeps going.",
    "Run `spec-kitty sync status` to see where it stands.",
)
SAAS_BODY_TOO_LARGE = "The SaaS host `{url}` sent an answer over {limit} bytes; refused."

# --- sessions per host, bindings per host, the operator's home (issue 9) ------------------------------
SAAS_TOKEN_ENV_VAR = "SPEC_KITTY_SAAS_TOKEN"
ENV_URL_SOURCE = SAAS_URL_ENV_VAR  # so an env URL error reads "SPEC_KITTY_SAAS_URL: <error>"
URL_FROM_SOURCE = "{source}: {error}"
URL_BAD_PORT = "`{url}` does not name a usable port."
# Unauthed variants, each with one next action (the quickstart's "no session anywhere" is UNAUTHED).
UNAUTHED_OTHER_HOST = Failure(
    "No SaaS session exists for `{url}`; the stored sessions are for other hosts.",
    "Run `spec-kitty auth login --host {url}`.",
)
UNAUTHED_EXPIRED = SESSION_EXPIRED
LOGIN_TOKEN_REJECTED = "The SaaS host rejected this token."
LOGIN_UNREACHABLE = Failure("The SaaS host `{url}` did not respond.", "Check your network connection and retry.")
AUTH_SESSION_LINE = "{url}: logged in as {login}{team}, {left} ({source})."
AUTH_SESSION_TEAM = " (team {team})"
AUTH_LEFT_UNKNOWN = "expiry unknown"
AUTH_LEFT_EXPIRED = "expired"
AUTH_LEFT_EXPIRED_REFRESHABLE = "expired, will refresh"
AUTH_LEFT = "{left} left"
AUTH_LEFT_LEGACY = "stored by an older spec-kitty-sync, log in again"
AUTH_SOURCE_FILE = "from {path}"
AUTH_SOURCE_ENV = f"from env {SAAS_TOKEN_ENV_VAR}"
LOGGED_OUT_HOST = "Logged out of {url}."
LOGOUT_NOT_REVOKED = "The host `{url}` did not answer; its copy of the session was not revoked."
LOGOUT_HOST_AND_ALL = "--host and --all cannot be combined."
HOME_NOT_OWNED = (
    "{path} is owned by another user (uid {owner}); refusing to use it. Set {var} to a folder you own."
)
HOME_TOO_OPEN = "{path} is writable by group or others (mode {mode}); run `chmod 700 {path}`."
BINDING_HOST_SOURCE = '{path} [[tracker.binding]] mission "{mission}"'
BINDING_SOURCE = "{path} tracker:"

# --- the machine's contract, as diagrams/README.md words it (issue 12: every decision through the machine)
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

# --- adversarial QA: files the operator must fix, and homes that cannot be homes ---------------------
OS_PROBLEM = "{path}: {reason}."
OS_PROBLEM_NO_PATH = "{reason}."
HOME_NOT_A_FOLDER = "{path} is not a folder; set {var} to a folder you own."
# `auth login` meets a failing or busy host: retry the login; no queue is involved
LOGIN_RETRY_LATER = "Retry `spec-kitty auth login` later."
TRACKER_RETRY_LATER = "Retry `spec-kitty {command}` later."  # bind/unbind: no queue is involved
LOGIN_BUSY = Failure("The SaaS host `{url}` asked to wait past this command's deadline.", "Retry later.")

# --- adversarial QA 2: names and answers that could drive a terminal (shown escaped, never raw) --------
NOT_A_MISSION_FOLDER = (
    "warning: {path} is not a mission folder (a mission slug is letters, digits, `._-`); skipped."
)
DEVICE_GRANT_FIELD = "the device login (`{field}`)"  # SAAS_UNEXPECTED_ANSWER's {what}

# --- adversarial QA 2: a mission log that is a FIFO, a device or a folder is never read -------------------
LOG_NOT_REGULAR = "warning: {path} is not a regular file; skipped."
LOG_NOT_REGULAR_REFUSED = "{path} is not a regular file; nothing was recorded."

# --- adversarial QA 2: an empty mission handle names nothing ----------------------------------------------
MISSION_HANDLE_EMPTY = "--mission {handle} is empty; name a mission by slug, number or id prefix."

# --- the Spec Kitty SaaS protocol: sessions, project identity, event sync ------------------------------
LOGIN_SLOW_DOWN_NOTE = "The SaaS host asked to poll more slowly; waiting {interval:g} seconds between checks."
LOGIN_CODE_LIFETIME = "The code is valid for {minutes} minutes."
LOGIN_NO_TEAM = "The SaaS host lists no team for this account; a session needs one (ask your SaaS admin)."
LOGIN_NO_SESSION_ID = "The SaaS host sent no session id with the token; not storing it."
# A session stored by the previous protocol (before the OAuth endpoints) is never sent to the new ones.
UNAUTHED_LEGACY = Failure(
    "Your saved SaaS session for `{url}` was made by an older spec-kitty-sync and cannot be used.", LOGIN_ACTION
)
REFRESH_REPLAYED = "another process renewed the session at the same time"
PROJECT_CONFIG_UNREADABLE = "{path} cannot be read as spec-kitty's project config ({error}); nothing was written."
SYNC_PROTOCOL_MISMATCH = Failure(
    "The SaaS host `{url}` speaks another sync protocol: {guidance}",
    "Upgrade spec-kitty-sync; queued events are kept.",
)
SYNC_REJECTED_REASON = "rejected by the SaaS host ({category}): {error}"
SYNC_NO_PRIVATE_TEAM = Failure(
    "Your SaaS session for `{url}` has no private team to sync events to.", LOGIN_ACTION
)
SYNC_RUN_LINE = "Synced {missions} missions: {pushed} events sent, {parked} parked, {queued} still queued."

# --- living beside spec-kitty in one repository (issue 17): moves, evidence, status lock, full disks -------
MOVE_BAD_JSON = "{option} is not valid JSON ({error}); nothing was recorded."
MOVE_NOT_AN_OBJECT = "{option} must be a JSON object; nothing was recorded."
MOVE_EVIDENCE_INCOMPLETE = (
    "--evidence-json needs review.reviewer, review.verdict and review.reference, "
    "e.g. '{\"review\": {\"reviewer\": \"alice\", \"verdict\": \"approved\", \"reference\": \"PR#1\"}}'; "
    "nothing was recorded."
)
MOVE_EVIDENCE_ENTRIES = (
    "--evidence-json repos need repo, branch and commit, verification entries command, result and summary; "
    "nothing was recorded."
)
MOVE_REVIEW_INCOMPLETE = (
    "--review-result-json needs non-empty reviewer, verdict and reference strings; nothing was recorded."
)
MOVE_REVIEW_VERDICT = "--review-result-json verdict must be approved or changes_requested; nothing was recorded."
MOVE_REVIEW_FEEDBACK = "--review-result-json feedback_path must be a string; nothing was recorded."
MOVE_EXECUTION_MODE = "--execution-mode must be worktree or direct_repo."
MOVE_DONE_NEEDS_EVIDENCE = (
    "{wp_id} cannot move to done without done evidence: pass --evidence-json with review.reviewer, "
    "review.verdict and review.reference (or --force --reason)."
)
MOVE_DISK_FULL = "The disk is full: the move was not recorded and {path} is unchanged ({reason})."
STATUS_LOCK_BUSY = (
    "The mission's status lock {path} was held for over {seconds} s (spec-kitty or another move is writing); "
    "nothing was recorded. Retry when it is done."
)
COORD_WORKTREE_FAILED = (
    "Cannot create the coordination worktree {path} on branch `{branch}` where spec-kitty keeps this "
    "mission's log ({error}); nothing was recorded."
)
AUTO_COMMIT_MESSAGE = "chore(spec-kitty): status transition {wp_id}"  # spec-kitty's own message for a move
AUTO_COMMIT_FAILED = "warning: the move is recorded but not committed ({error}); commit {paths} yourself."

# --- living beside spec-kitty on one machine (issue 17): one daemon per home, whichever tool started it ---
DAEMON_LINE_FOREIGN = "Sync daemon: spec-kitty's own daemon is running (pid {pid}); it belongs to spec-kitty-cli."
DAEMON_LINE_FOREIGN_STALE = (
    "Sync daemon: spec-kitty's daemon state file names pid {pid}, which is not running; it belongs to "
    "spec-kitty-cli and is left for it to clear."
)
DAEMON_FOREIGN = Failure(
    "spec-kitty's own sync daemon (pid {pid}) holds this home, so no daemon of ours is started.",
    "Run `spec-kitty sync run` for a one-shot sync, or stop spec-kitty-cli's daemon with its own tools "
    "(it retires after 15 idle minutes).",
    ExitCode.OK,
    gap=False,
)

# --- which distribution answers (issue 17): spec-kitty-cli installs a `spec-kitty` script too -------------
DISTRIBUTION = "spec-kitty-sync"
VERSION_LINE = f"%(prog)s ({DISTRIBUTION}) %(version)s"  # click fills prog and version

# --- issue 16: trust under full disks, planted links, hostile files, bounded locks and Ctrl-C ----------
DISK_FULL = "The disk is full: {path} was not written (it is as it was); free some space and retry."
# a token from the environment serves only the process that holds it: its job is never handed to the daemon
DAEMON_REASON_ENV_TOKEN = f"`{SAAS_TOKEN_ENV_VAR}` is set, and a token from the environment never leaves this process"
# a start-up file (auth.json, config.toml, ...) that is a FIFO, a device, a link or huge is never read
FILE_REFUSED = "warning: {path} is not a regular file of at most 1 MiB (a link, a FIFO or a device?); ignored."
# a mission log committed as a symbolic link is never appended to (it could point anywhere)
LOG_IS_LINK = "{path} is a symbolic link; nothing was recorded (a mission log must be a regular file)."
# a lock another process keeps too long: name it instead of waiting for ever
LOCK_BUSY = "{path} is held by {holder} for more than {seconds:g} seconds; retry once it is done (or end it)."
LOCK_HOLDER_PID = "process {pid}"
LOCK_HOLDER_UNKNOWN = "another process"
# Ctrl-C is an answer: what is still waiting, never a traceback or "unexpected ValueError"
INTERRUPTED = "Interrupted; {count} events still queued."
INTERRUPTED_NOTHING_QUEUED = "Interrupted."
# a config value read as `config set` would have refused it: named with its key and file, never guessed
CONFIG_BAD_VALUE = "{path} `{key}`: {error}"


# --- issue 19: answers that agree with the host ---------------------------------------------------------
# `auth status --check` and `sync explain --probe` ask the host (`GET /api/v1/me`), like `gh auth status`.
SESSION_REJECTED = Failure(
    "The SaaS host `{url}` no longer accepts your session (revoked or expired there).", LOGIN_ACTION
)
ENV_TOKEN_REJECTED = Failure(
    f"The SaaS host `{{url}}` rejected the token in `{SAAS_TOKEN_ENV_VAR}`.",
    f"Set `{SAAS_TOKEN_ENV_VAR}` to a valid token (`spec-kitty auth token` prints one on a logged-in machine), "
    "or unset it to use `spec-kitty auth login`.",
)
AUTH_ENV_NO_HOST = Failure(
    f"`{SAAS_TOKEN_ENV_VAR}` is set, but no SaaS host is configured for it.",
    f"Set `{SAAS_URL_ENV_VAR}` or run `spec-kitty config set sync.server_url <url>`.",
)
AUTH_CHECK_VALID = "  Checked with the host: the session is valid."
AUTH_CHECK_REJECTED = (
    "  Checked with the host: it no longer accepts this session; run `spec-kitty auth login --host {url}`."
)
AUTH_CHECK_ENV_REJECTED = (
    f"  Checked with the host `{{url}}`: it rejected `{SAAS_TOKEN_ENV_VAR}`; set a valid token or unset it."
)
AUTH_CHECK_FAILED = "  Checked with the host: no answer ({error})."
EXPLAIN_SESSION_LABEL = "session accepted"
EXPLAIN_SESSION_OK = "GET {url}/api/v1/me"
EXPLAIN_SESSION_REJECTED = "rejected by the host"
EXPLAIN_STATE_REJECTED = "State: {state} (the host rejects the session)"

# --- issue 19: which session is active, and logging out of a host without one ---------------------------
AUTH_ACTIVE = " (active)"
LOGIN_NOT_ACTIVE = (
    "The active host stays `{active}` ({source}); to use `{url}`, run `spec-kitty config set sync.server_url {url}`."
)
LOGIN_NOT_ACTIVE_ENV = (
    f"The active host stays `{{active}}` (env {SAAS_URL_ENV_VAR}); to use `{{url}}`, set {SAAS_URL_ENV_VAR}={{url}}."
)
LOGOUT_UNKNOWN_HOST = "No session for `{url}`; sessions exist for: {hosts}."

# --- issue 19: refused, timed out and TLS failures each in their own words -------------------------------
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

# --- issue 19: scriptable answers (`--json`, `config get`, `auth token`) --------------------------------
CONFIG_FROM = "(from {source})"
CONFIG_SOURCE_DEFAULT = "default"
CONFIG_SOURCE_FILE = "{path}"
CONFIG_SOURCE_ENV = "env {var}"
CONFIG_LIST_DEFAULT = "{key} = {value}  (default)"
CONFIG_LIST_ENV = "{key} = {value}  (env {var})"
# `sync explain`'s source for a host set nowhere: where to set it, never a key the file does not hold
SOURCE_HOST_NOT_SET = f"not set (env {SAAS_URL_ENV_VAR} or `sync.server_url` in {{path}})"

# --- issue 19: guidance where a person stumbles --------------------------------------------------------
WP_NEAR_MATCH = (
    "`{wp_id}` is not a work package of mission `{mission}`; did you mean `{match}`? Nothing was recorded "
    "(pass --force --reason to create it anyway)."
)
UNKNOWN_LANE_NEAR = "Unknown lane `{lane}`; did you mean `{match}`? Lanes: {lanes}."
DOCS_LANES = "docs/getting-started.md"
