"""Every file location the tool uses, in one place.

``SPEC_KITTY_HOME`` overrides ``~/.spec-kitty`` so tests and demos never touch an operator's real home.
"""

from __future__ import annotations

import os
from pathlib import Path

from states.catalog import HOME_ENV_VAR

_vetted: set[str] = set()  # homes already checked in this process: one stat per process, not per file


def home() -> Path:
    """The tool's home folder, refused unless it is the operator's (not created here: reads never write).

    Like ssh with ``~/.ssh``: a home owned by someone else, or writable by group or others, could
    hold a ``config.toml`` that sends the operator's token to a stranger's server, so it is refused
    (one ``stat``, on first use; a missing home is fine, writers create it 0700).
    """
    override = os.environ.get(HOME_ENV_VAR, "").strip()
    path = Path(override).expanduser() if override else Path.home() / ".spec-kitty"
    key = str(path)
    if key not in _vetted:
        _refuse_unless_private(path)
        _vetted.add(key)
    return path


def _refuse_unless_private(path: Path) -> None:
    import stat

    try:
        st = os.stat(path)
    except OSError:  # absent (created 0700 by the first writer) or unreadable (the read will say so)
        return
    from orchestrator.errors import ConfigError
    from states import catalog

    if not stat.S_ISDIR(st.st_mode):  # a file where the home should be: no writer could create it
        raise ConfigError(catalog.HOME_NOT_A_FOLDER.format(path=path, var=HOME_ENV_VAR))
    if st.st_uid != os.getuid():
        raise ConfigError(catalog.HOME_NOT_OWNED.format(path=path, owner=st.st_uid, var=HOME_ENV_VAR))
    if st.st_mode & 0o022:
        raise ConfigError(catalog.HOME_TOO_OPEN.format(path=path, mode=oct(st.st_mode & 0o777)[2:]))


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
