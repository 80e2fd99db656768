"""Trust: the queue's dead letters and conflicts, deadlines, ``sync status``, queue files, and what
is refused rather than trusted (hostile files, terminal escapes, full disks, busy locks, Ctrl-C).
"""

from __future__ import annotations

from states.catalog.base import Failure
from states.catalog.hosted import SAAS_TOKEN_ENV_VAR

# --- sync trust: dead letters, conflicts, deadlines, `sync status`, queue files -----------------------
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

# --- files the operator must fix, and homes that cannot be homes --------------------------------------
OS_PROBLEM = "{path}: {reason}."
OS_PROBLEM_NO_PATH = "{reason}."
HOME_NOT_A_FOLDER = "{path} is not a folder; set {var} to a folder you own."
# `auth login` meets a failing or busy host: retry the login; no queue is involved
LOGIN_RETRY_LATER = "Retry `spec-kitty auth login` later."
TRACKER_RETRY_LATER = "Retry `spec-kitty {command}` later."  # bind/unbind: no queue is involved
LOGIN_BUSY = Failure("The SaaS host `{url}` asked to wait past this command's deadline.", "Retry later.")

# --- names and answers that could drive a terminal (shown escaped, never raw) -------------------------
NOT_A_MISSION_FOLDER = (
    "warning: {path} is not a mission folder (a mission slug is letters, digits, `._-`); skipped."
)
DEVICE_GRANT_FIELD = "the device login (`{field}`)"  # SAAS_UNEXPECTED_ANSWER's {what}

# --- a mission log that is a FIFO, a device or a folder is never read ---------------------------------
LOG_NOT_REGULAR = "warning: {path} is not a regular file; skipped."
LOG_NOT_REGULAR_REFUSED = "{path} is not a regular file; nothing was recorded."

# --- an empty mission handle names nothing ------------------------------------------------------------
MISSION_HANDLE_EMPTY = "--mission {handle} is empty; name a mission by slug, number or id prefix."

# --- full disks, planted links, hostile files, bounded locks and Ctrl-C -------------------------------
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
