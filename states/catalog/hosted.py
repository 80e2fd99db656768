"""Hosted commands: ``auth`` and sessions per host, ``tracker``, ``sync run`` and ``sync explain``, and
the Spec Kitty SaaS protocol.
"""

from __future__ import annotations

from states.catalog.base import LOGIN_ACTION, SAAS_URL_ENV_VAR, ExitCode, Failure
from states.catalog.readiness import SESSION_EXPIRED

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

# --- sessions per host, bindings per host, the operator's home ----------------------------------------
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

# --- answers that agree with the host -----------------------------------------------------------------
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

# --- which session is active, and logging out of a host without one -----------------------------------
AUTH_ACTIVE = " (active)"
LOGIN_NOT_ACTIVE = (
    "The active host stays `{active}` ({source}); to use `{url}`, run `spec-kitty config set sync.server_url {url}`."
)
LOGIN_NOT_ACTIVE_ENV = (
    f"The active host stays `{{active}}` (env {SAAS_URL_ENV_VAR}); to use `{{url}}`, set {SAAS_URL_ENV_VAR}={{url}}."
)
LOGOUT_UNKNOWN_HOST = "No session for `{url}`; sessions exist for: {hosts}."
