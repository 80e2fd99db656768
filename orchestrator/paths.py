"""Every file location the tool uses, in one place.

``SPEC_KITTY_HOME`` overrides ``~/.spec-kitty`` so tests and demos never touch an operator's real home.
"""

from __future__ import annotations

import os
from pathlib import Path

from states.catalog import HOME_ENV_VAR


def home() -> Path:
    """The tool's home folder (not created here: read paths must never write)."""
    override = os.environ.get(HOME_ENV_VAR, "").strip()
    return Path(override).expanduser() if override else Path.home() / ".spec-kitty"


def config_file() -> Path:
    return home() / "config.toml"


def auth_file() -> Path:
    return home() / "auth.json"


def queue_file() -> Path:
    return home() / "sync-queue.sqlite3"


def daemon_lock_file() -> Path:
    return home() / "sync-daemon.lock"


def daemon_state_file() -> Path:
    return home() / "sync-daemon"


def daemon_log_file() -> Path:
    return home() / "sync-daemon.log"


def lock_file_for(path: Path) -> Path:
    """The inter-process lock guarding writes to ``path`` (a sibling dotfile)."""
    return path.with_name(f".{path.name}.lock")


# --- inside a repository ---------------------------------------------------------------------------
SPECS_DIR = "kitty-specs"
EVENTS_FILE = "status.events.jsonl"


def repo_config_file(repo_root: Path) -> Path:
    return repo_root / ".kittify" / "config.toml"
