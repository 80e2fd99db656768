"""Missions as spec-kitty lays them out: ``kitty-specs/<slug>/status.events.jsonl`` is the truth.

The reducer folds lane-transition rows in file order (the order spec-kitty appends them) into the
current lane per work package, giving the same ``summary`` and per-WP lanes as spec-kitty's own
``status.json`` snapshot. Rows keyed ``kind``, ``event_type`` or ``type`` are other event kinds and are
skipped; a malformed line is reported and skipped, never fatal.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.errors import MissionError
from orchestrator.paths import EVENTS_FILE, SPECS_DIR
from orchestrator.ulid import new_ulid
from states import catalog

LANES: tuple[str, ...] = (
    "planned", "claimed", "in_progress", "for_review", "in_review", "approved", "done", "blocked", "canceled",
)
NON_TRANSITION_KEYS = ("kind", "event_type", "type")
WP_ID = re.compile(r"WP\d+")
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


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


def list_missions(root: Path) -> list[Path]:
    """Mission folders, most recently changed first."""
    specs = root / SPECS_DIR
    try:
        folders = [p for p in specs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(folders, key=lambda p: (_changed_at(p), p.name), reverse=True)


def _changed_at(folder: Path) -> float:
    try:
        return max(folder.stat().st_mtime, (folder / EVENTS_FILE).stat().st_mtime)
    except OSError:
        return folder.stat().st_mtime if folder.exists() else 0.0


def resolve_slug(root: Path | None, option: str | None, cwd: Path) -> str:
    """Never empty: ``--mission``, the only or most recently changed mission, else the repo's folder name."""
    if option:
        return option
    missions = list_missions(root) if root else []
    if missions:
        return missions[0].name
    return (root or cwd).resolve().name or "default"


def mission_dir(root: Path | None, slug: str) -> Path:
    """The folder of an existing mission; refuses anything that is not a folder under ``kitty-specs/``."""
    if root is None or not (root / SPECS_DIR).is_dir():
        raise MissionError(catalog.NO_SPECS_FOLDER.format(specs=SPECS_DIR))
    if not SLUG.fullmatch(slug) or not (root / SPECS_DIR / slug).is_dir():
        raise MissionError(catalog.NO_SUCH_MISSION.format(slug=slug, path=root / SPECS_DIR))
    return root / SPECS_DIR / slug


# NamedTuple and a plain class rather than dataclasses: `status` imports this module on every run, and
# generating a dataclass costs ~3.6M instructions (plus ~3.4M for the dataclasses module itself).
class Problem(NamedTuple):
    path: Path
    line: int
    reason: str


class Log:
    """The parsed rows of one mission's event log, with any malformed lines noted."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.problems: list[Problem] = []


def read_log(path: Path) -> Log:
    log = Log()
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return log
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                reason = catalog.MALFORMED_REASON_JSON.format(error=exc.__class__.__name__)
                log.problems.append(Problem(path, number, reason))
                continue
            if not isinstance(row, dict):
                log.problems.append(Problem(path, number, catalog.MALFORMED_REASON_NOT_OBJECT))
                continue
            log.rows.append(row)
    return log


def is_transition(row: dict[str, Any]) -> bool:
    return not any(k in row for k in NON_TRANSITION_KEYS) and "wp_id" in row and "to_lane" in row


def reduce(slug: str, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Fold lane transitions into a snapshot with the keys of spec-kitty's ``status.json``."""
    wps: dict[str, dict[str, Any]] = {}
    count = 0
    last_event_id = None
    for row in rows:
        if not is_transition(row):
            continue
        count += 1
        last_event_id = row.get("event_id")
        wp = wps.setdefault(str(row["wp_id"]), {"force_count": 0})
        wp["lane"] = row["to_lane"]
        wp["last_event_id"] = last_event_id
        wp["last_transition_at"] = row.get("at")
        wp["actor"] = row.get("actor")
        wp["force_count"] += 1 if row.get("force") else 0
    summary = {lane: 0 for lane in LANES}
    for wp in wps.values():
        if wp["lane"] in summary:
            summary[wp["lane"]] += 1
    return {
        "mission_slug": slug,
        "event_count": count,
        "last_event_id": last_event_id,
        "summary": summary,
        "work_packages": dict(sorted(wps.items())),
    }


def check_lane(lane: str) -> str:
    if lane not in LANES:
        raise MissionError(catalog.UNKNOWN_LANE.format(lane=lane, lanes=", ".join(LANES)))
    return lane


def check_wp(wp_id: str) -> str:
    if not WP_ID.fullmatch(wp_id):
        raise MissionError(catalog.NOT_A_WP_ID.format(wp_id=wp_id))
    return wp_id


def append_transition(
    folder: Path, wp_id: str, to_lane: str, *, actor: str, reason: str | None, force: bool = False,
    skip_if: Callable[[str], bool] | None = None,
) -> dict[str, Any] | None:
    """Append one lane-transition row, in spec-kitty's format, atomically.

    ``flock`` on the log itself serialises writers (no stray lock file in the repo): the current lane is
    read and the row written under the same lock, so concurrent moves never interleave, tear a line or
    compute ``from_lane`` from a stale read. The line goes out in one ``write`` on an O_APPEND fd.
    ``skip_if(current lane)`` lets a caller decide under that same lock (a pulled change applied by a
    concurrent sync is then not appended twice); when it says so, nothing is written and None returned.
    """
    check_wp(wp_id)
    check_lane(to_lane)
    path = folder / EVENTS_FILE
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        log = read_log(path)
        rows = [r for r in log.rows if is_transition(r)]
        current = [r for r in rows if r.get("wp_id") == wp_id]
        mission_id = next((r.get("mission_id") for r in reversed(rows) if r.get("mission_id")), None)
        if skip_if is not None and skip_if(current[-1]["to_lane"] if current else "planned"):
            return None
        row = {
            "actor": actor,
            "at": datetime.now(UTC).isoformat(),
            "event_id": new_ulid(),
            "evidence": None,
            "execution_mode": "direct_repo",
            "force": force,
            "from_lane": current[-1]["to_lane"] if current else "planned",
            "mission_id": mission_id,
            "mission_slug": folder.name,
            "policy_metadata": None,
            "reason": reason,
            "review_ref": None,
            "review_result": None,
            "to_lane": to_lane,
            "wp_id": wp_id,
        }
        line = json.dumps(row, sort_keys=True) + "\n"
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line  # a torn last line stays its own (reported) line, never glued to ours
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
        return row
    finally:
        os.close(fd)
