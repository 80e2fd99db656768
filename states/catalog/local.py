"""Local commands: ``status``, ``wp move``, ``config``, mission handles and lanes, the CLI edge, and
living beside spec-kitty in one repository.
"""

from __future__ import annotations

from states.catalog.base import SAAS_URL_ENV_VAR

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

# --- missions: handles, the lane machine, several missions --------------------------------------------
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

# --- living beside spec-kitty in one repository: moves, evidence, status lock, full disks -------------
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

# --- which distribution answers: spec-kitty-cli installs a `spec-kitty` script too --------------------
DISTRIBUTION = "spec-kitty-sync"
VERSION_LINE = f"%(prog)s ({DISTRIBUTION}) %(version)s"  # click fills prog and version

# --- scriptable answers (`--json`, `config get`, `auth token`) ----------------------------------------
CONFIG_FROM = "(from {source})"
CONFIG_SOURCE_DEFAULT = "default"
CONFIG_SOURCE_FILE = "{path}"
CONFIG_SOURCE_ENV = "env {var}"
CONFIG_LIST_DEFAULT = "{key} = {value}  (default)"
CONFIG_LIST_ENV = "{key} = {value}  (env {var})"
# `sync explain`'s source for a host set nowhere: where to set it, never a key the file does not hold
SOURCE_HOST_NOT_SET = f"not set (env {SAAS_URL_ENV_VAR} or `sync.server_url` in {{path}})"

# --- guidance where a person stumbles -----------------------------------------------------------------
WP_NEAR_MATCH = (
    "`{wp_id}` is not a work package of mission `{mission}`; did you mean `{match}`? Nothing was recorded "
    "(pass --force --reason to create it anyway)."
)
UNKNOWN_LANE_NEAR = "Unknown lane `{lane}`; did you mean `{match}`? Lanes: {lanes}."
DOCS_LANES = "docs/getting-started.md"
