"""Where missions are on disk: the project's ``kitty-specs/`` folders, each mission's ``meta.json``, and
the folder that holds its log (``status_folder``: the primary folder, or spec-kitty's coordination
worktree under ``.worktrees/``).

Missions are listed in slug order, never by modification time (a checkout or an editor changes it).
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.errors import MissionError
from orchestrator.home.fsutil import read_small
from orchestrator.home.paths import SPECS_DIR
from states import catalog
from states.contract import NAME as SLUG

ID_PREFIX = 8  # characters of a mission_id that name the mission (spec-kitty's `mid8`)
META_FILE = "meta.json"
WORKTREES_DIR = ".worktrees"  # where spec-kitty keeps lane and coordination worktrees, under the repo root
COORD_SUFFIX = "-coord"


def find_project_root(start: Path) -> Path | None:
    """The nearest folder (upwards) holding ``kitty-specs/``, else the nearest git work tree."""
    start = start.resolve()
    candidates = [start, *start.parents]
    for folder in candidates:
        if (folder / SPECS_DIR).is_dir():
            return folder
    for folder in candidates:
        if (folder / ".git").exists():
            return folder
    return None


def list_missions(root: Path | None) -> list[Path]:
    """Mission folders in slug order (never by modification time: a checkout or an editor changes it).

    Only folders named as a mission slug (``states.contract.NAME``): a cloned repo's folder named with an
    escape sequence or a newline is not a mission, so its name never reaches a terminal as a mission's
    (``not_missions`` lists them for one escaped warning)."""
    return [p for p in _folders(root) if SLUG.fullmatch(p.name)]


def not_missions(root: Path | None) -> list[Path]:
    """Folders under ``kitty-specs/`` that ``list_missions`` skips because their name is not a slug."""
    return [p for p in _folders(root) if not SLUG.fullmatch(p.name)]


def _folders(root: Path | None) -> list[Path]:
    if root is None:
        return []
    try:
        folders = [p for p in (root / SPECS_DIR).iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(folders, key=lambda p: p.name)


def meta_mission_id(folder: Path) -> str | None:
    """``mission_id`` from the mission's ``meta.json``, when it has a non-empty one."""
    try:
        meta = json.loads(read_small(folder / META_FILE))  # a FIFO or /dev/zero there is never read
    except (OSError, ValueError, RecursionError):
        return None
    if isinstance(meta, dict) and isinstance(meta.get("mission_id"), str) and meta["mission_id"]:
        return str(meta["mission_id"])
    return None


def status_folder(folder: Path, *, create: bool = False) -> Path:
    """Where the mission whose ``kitty-specs/`` folder is ``folder`` keeps its log and ``status.json``.

    The one place that maps a mission to its log, for ``status``, ``wp move`` and sync alike. As
    spec-kitty 3.2.7 resolves it: a mission whose ``meta.json`` declares a ``coordination_branch``
    (topology ``coord`` or ``lanes_with_coord``, or no topology recorded) keeps its canonical log in the
    coordination worktree ``<repo>/.worktrees/<slug>-<mid8>-coord/kitty-specs/<slug>-<mid8>/`` (``mid8``:
    the first 8 characters of its ``mission_id``; a slug already ending in ``-<mid8>`` is not extended).
    Until that worktree holds the mission, spec-kitty reads the primary folder; its first write creates
    the worktree on the coordination branch. ``create`` (a write) does the same, so our row lands where
    spec-kitty's next command will look.
    """
    try:
        meta = json.loads((folder / META_FILE).read_bytes())
    except (OSError, ValueError, RecursionError):
        return folder
    if not isinstance(meta, dict):
        return folder
    branch, mission_id = meta.get("coordination_branch"), meta.get("mission_id")
    if not (isinstance(branch, str) and branch) or meta.get("topology") in ("single_branch", "lanes"):
        return folder
    mid8 = mission_id[:ID_PREFIX] if isinstance(mission_id, str) else ""
    name = folder.name if not mid8 or folder.name.endswith(f"-{mid8}") else f"{folder.name}-{mid8}"
    root = folder.parent.parent
    coord_root = root / WORKTREES_DIR / f"{name}{COORD_SUFFIX}"
    coord = coord_root / SPECS_DIR / name
    if coord.is_dir() or not create:
        return coord if coord.is_dir() else folder
    if not coord_root.exists():
        _add_worktree(root, coord_root, branch)
    coord.mkdir(parents=True, exist_ok=True)
    return coord


def _add_worktree(root: Path, where: Path, branch: str) -> None:
    import subprocess

    try:
        done = subprocess.run(["git", "-C", str(root), "worktree", "add", "--quiet", str(where), branch],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise MissionError(catalog.COORD_WORKTREE_FAILED.format(path=where, branch=branch, error=exc)) from None
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise MissionError(catalog.COORD_WORKTREE_FAILED.format(path=where, branch=branch, error=error))


def primary_of(folder: Path) -> Path:
    """The ``kitty-specs/`` folder of the mission whose status folder is ``folder`` (itself for most)."""
    if folder.parent.name == SPECS_DIR and folder.parents[1].name.endswith(COORD_SUFFIX) \
            and folder.parents[2].name == WORKTREES_DIR:
        root = folder.parents[3]
        for candidate in list_missions(root):
            if status_folder(candidate) == folder:
                return candidate
    return folder


