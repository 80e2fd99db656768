"""The background sync daemon: its fallback reasons, ``sync daemon status|stop``, spec-kitty's own
daemon in the same home, and what each state of its life means.
"""

from __future__ import annotations

from states.catalog.base import ExitCode, Failure
from states.catalog.hosted import QUEUED_EVENTS

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

# What each state of the daemon-life machine means (diagrams/README.md; keyed by states.daemon_life).
DAEMON_LIFE_INTRO = (
    "Whether this home's background sync daemon runs, and whose it is, decided by one machine "
    "(`states/daemon_life.py`) from raw facts the orchestrator gathers (`orchestrator/daemon/life.py`): "
    "spec-kitty's state file, the lock's holder, our state file, the control endpoint's answer, leftovers "
    "and queued work. Each place asks a question: the triggers it fires in order, reading only the facts "
    "those rows need."
)
DAEMON_LIFE_NOTES: dict[str, str] = {
    "Unseen": "Nothing looked at yet; a question about spec-kitty's daemon alone rests here when there is none.",
    "Foreign": "spec-kitty-cli's own daemon holds this home (its state file, or a lock holder that is not "
               "ours): nothing of ours is started, stopped or signalled.",
    "ForeignStale": "spec-kitty's state file names a pid that no longer runs; the file is left for spec-kitty "
                    "to clear.",
    "NotRunning": "Nobody holds the daemon lock.",
    "Died": "Nobody holds the lock, a daemon left its state or lock file behind (a clean exit removes both), "
            "and work is queued.",
    "Held": "A daemon of ours (or one this platform cannot name) holds the lock; nothing more was asked.",
    "Starting": "The lock's holder has not published its state file yet, or the daemon this command spawned "
                "has not taken the lock yet.",
    "Published": "The lock's holder published its state file (port and secret); it has not been asked yet.",
    "Hung": "Published, but its control endpoint does not answer in time: replaced after a while.",
    "Retiring": "Answers, but is stopping: a command waits for it to go and starts another.",
    "OtherVersion": "Answers, healthy, but another version of this tool: asked to shut down, then replaced.",
    "Running": "Answers, healthy, our version: commands hand it their syncs.",
}

# --- living beside spec-kitty on one machine: one daemon per home, whichever tool started it ----------
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
