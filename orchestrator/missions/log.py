"""Missions as spec-kitty lays them out: ``kitty-specs/<slug>/status.events.jsonl`` is the truth.

The reducer is spec-kitty's (see ``Fold``): logs of parallel worktrees arrive through git merges with
lines interleaved and repeated, so the snapshot must not depend on line order or repeats. Rows keyed
``kind``, ``event_type`` or ``type`` are other event kinds and are skipped; a malformed line is
reported with its file and line and skipped, never fatal.

A mission is named by a *handle*, as spec-kitty accepts them (``resolve``): the full slug, its numeric
prefix (``082``), the slug without that prefix, or the first 8 characters of its ``mission_id``. The
mission is never guessed from modification times: with one mission it is the default; with several, a
command that acts on one mission needs ``--mission``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.errors import MissionChoiceError, MissionError, UsageProblem
from orchestrator.home.fsutil import read_small, write_all
from orchestrator.home.paths import EVENTS_FILE, SPECS_DIR
from orchestrator.missions import foldcache
from orchestrator.missions.eventids import EventIds
from orchestrator.missions.ulid import new_ulid
from states import catalog
from states.catalog import ExitCode
from states.contract import NAME as SLUG
from states.contract import WP_ID
from states.lanes import ALIASES, GENESIS, LANES, allowed, canonical, reachable

NUMBERED = re.compile(r"([0-9]+)-(.+)")
ID_PREFIX = 8  # characters of a mission_id that name the mission (spec-kitty's `mid8`)
META_FILE = "meta.json"


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


def mission_id_of(folder: Path) -> str | None:
    """``mission_id`` from ``meta.json`` when it has one, else from the log's transitions."""
    return _meta_mission_id(folder) or read_mission(folder).mission_id


def _meta_mission_id(folder: Path) -> str | None:
    try:
        meta = json.loads(read_small(folder / META_FILE))  # a FIFO or /dev/zero there is never read
    except (OSError, ValueError, RecursionError):
        return None
    if isinstance(meta, dict) and isinstance(meta.get("mission_id"), str) and meta["mission_id"]:
        return str(meta["mission_id"])
    return None


def describe(folder: Path) -> str:
    """``slug (id prefix)``: how a list of candidate missions names each one."""
    mission_id = mission_id_of(folder)
    return f"{folder.name} ({mission_id[:ID_PREFIX]})" if mission_id else folder.name


def candidates(folders: Iterable[Path]) -> list[dict[str, str | None]]:
    """Missions as JSON-friendly records (``--json`` errors list them)."""
    out: list[dict[str, str | None]] = []
    for folder in folders:
        mission_id = mission_id_of(folder)
        out.append({"slug": folder.name, "mission_id": mission_id})
    return out


def _matches(folder: Path, handle: str) -> bool:
    numbered = NUMBERED.fullmatch(folder.name)
    if numbered is not None:
        number, rest = numbered.groups()
        if handle.isascii() and handle.isdigit() and int(handle) == int(number):
            return True
        if handle == rest:
            return True
    if len(handle) >= ID_PREFIX and handle.isascii() and handle.isalnum():
        mission_id = mission_id_of(folder)
        if mission_id and mission_id.upper().startswith(handle.upper()):
            return True
    return False


def resolve(root: Path | None, handle: str) -> Path:
    """The mission a handle names; an unknown or ambiguous handle is a usage error listing candidates."""
    if root is None or not (root / SPECS_DIR).is_dir():
        raise MissionError(catalog.NO_SPECS_FOLDER.format(specs=SPECS_DIR))
    folders = list_missions(root)
    exact = [f for f in folders if f.name == handle]
    if exact:
        return exact[0]
    found = [f for f in folders if _matches(f, handle)]
    if len(found) == 1:
        return found[0]
    if found:
        raise choice_error("mission_ambiguous", catalog.MISSION_AMBIGUOUS.format(handle=handle), found)
    if not folders:
        raise choice_error("mission_unknown", catalog.NO_MISSIONS.format(path=root / SPECS_DIR), [])
    raise choice_error("mission_unknown", catalog.MISSION_UNKNOWN.format(handle=handle, path=root / SPECS_DIR),
                       folders)


def choice_error(code: str, headline: str, folders: list[Path]) -> MissionChoiceError:
    """The headline, then one line per candidate mission (``slug (id prefix)``)."""
    lines = [headline, *(catalog.MISSION_CANDIDATE.format(name=describe(f)) for f in folders)]
    return MissionChoiceError(code, "\n".join(lines), headline, folders)


def require_one(root: Path | None, handle: str | None) -> None:
    """For commands that act on one mission: several missions and no ``--mission`` is a usage error."""
    if handle:
        return
    folders = list_missions(root)
    if len(folders) > 1:
        raise choice_error("mission_required", catalog.MISSION_REQUIRED.format(count=len(folders)), folders)


def resolve_slug(root: Path | None, option: str | None, cwd: Path, bound: Iterable[str] = ()) -> str:
    """Never empty: the mission ``--mission`` names (taken as given where there are no missions to
    resolve it against), the only mission, else the repository folder's name.

    With several missions and no ``--mission`` (commands that can cover every mission), the first bound
    mission in slug order, else the first mission in slug order: the one the Unbound wording names.
    """
    folders = list_missions(root)
    if option:  # a repository without missions (the quickstart's `git init` folder) binds by its name
        return resolve(root, option).name if folders else option
    if len(folders) == 1:
        return folders[0].name
    if folders:
        names = [f.name for f in folders]
        bound_set = set(bound)
        return next((name for name in names if name in bound_set), names[0])
    return (root or cwd).resolve().name or "default"


def mission_dir(root: Path | None, slug: str) -> Path:
    """The folder of an existing mission; refuses anything that is not a folder under ``kitty-specs/``."""
    if root is None or not (root / SPECS_DIR).is_dir():
        raise MissionError(catalog.NO_SPECS_FOLDER.format(specs=SPECS_DIR))
    if not SLUG.fullmatch(slug) or not (root / SPECS_DIR / slug).is_dir():
        raise MissionError(catalog.NO_SUCH_MISSION.format(slug=slug, path=root / SPECS_DIR))
    return root / SPECS_DIR / slug


WORKTREES_DIR = ".worktrees"  # where spec-kitty keeps lane and coordination worktrees, under the repo root
COORD_SUFFIX = "-coord"


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


# NamedTuple and a plain class rather than dataclasses: `status` imports this module on every run, and
# generating a dataclass costs ~3.6M instructions (plus ~3.4M for the dataclasses module itself).
class Problem(NamedTuple):
    path: Path
    line: int
    reason: str


def problem_line(problem: Problem) -> str:
    """The warning a reader prints for ``problem``: a skipped line, or (line 0) a log that is not a
    regular file and was not read at all."""
    if problem.line == 0:
        return catalog.LOG_NOT_REGULAR.format(path=problem.path)
    return catalog.MALFORMED_LINE.format(path=problem.path, line=problem.line, reason=problem.reason)


class Log:
    """The parsed rows of one mission's event log, with any malformed lines noted."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.problems: list[Problem] = []


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One log line as a row, or the reason it is unusable.

    ``RecursionError`` is caught beside ``ValueError``: a 2 KB line nested 1,000 levels deep makes the
    json module recurse past the interpreter's limit, and one such line must not end the command.
    """
    try:
        row = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, catalog.MALFORMED_REASON_JSON.format(error=exc.__class__.__name__)
    if not isinstance(row, dict):
        return None, catalog.MALFORMED_REASON_NOT_OBJECT
    return row, None


def read_log(path: Path) -> Log:
    log = Log()
    try:
        handle = foldcache.open_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        return log
    except foldcache.NotARegularFile:
        log.problems.append(Problem(path, 0, ""))
        return log
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            row, reason = parse_line(raw)
            if row is None:
                log.problems.append(Problem(path, number, reason or ""))
                continue
            log.rows.append(row)
    return log


def is_rollback(row: dict[str, Any]) -> bool:
    """A reviewer sending work back: to ``in_progress`` from ``in_review``, or from ``for_review`` with a
    ``review_ref``. At the same ``at`` it beats a forward move of the same work package."""
    if row.get("to_lane") != "in_progress":
        return False
    return row.get("from_lane") == "in_review" or (row.get("from_lane") == "for_review"
                                                    and bool(row.get("review_ref")))


class _WorkPackage:
    """Per-WP fold state that does not depend on row order: the winning row by (at, rollback, event_id),
    and how many distinct transitions were forced. Only the winner's fields the snapshot shows are kept
    (not the whole row), so the fold's memory follows the work packages, not the log."""

    __slots__ = ("actor", "at", "event_id", "force_count", "rollback", "to_lane")

    def __init__(self) -> None:
        self.at = ""
        self.rollback = -1
        self.event_id = ""
        self.to_lane = ""
        self.actor: Any = None
        self.force_count = 0


class Fold:
    """spec-kitty's reducer as an accumulator: feed rows in any order, read the snapshot at any time.

    De-duplicates by ``event_id`` (first occurrence wins), counts each distinct transition once, keeps
    the last transition by (``at``, ``event_id``) for ``last_event_id`` / ``materialized_at``, and per
    work package the winner by (``at``, rollback first, ``event_id``). The result equals folding the
    de-duplicated rows sorted by (``at``, ``event_id``) with rollback precedence at equal ``at``.
    Because nothing depends on row order, the state can be saved and later rows folded on top of it
    (see ``orchestrator.missions.foldcache``) with the same result as folding the whole log again.
    """

    def __init__(self, slug: str, seen: EventIds | None = None) -> None:
        self.slug = slug
        self.seen = seen if seen is not None else EventIds()
        self.wps: dict[str, _WorkPackage] = {}
        self.last_at = ""
        self.last_id: str | None = None
        self.mission_ids: dict[str, tuple[str, str]] = {}  # mission_id -> its earliest (at, event_id)

    def add(self, row: dict[str, Any]) -> None:
        """Fold one row if it is a lane transition spec-kitty's reducer folds (no other-kind key, and
        string ``wp_id``, ``to_lane``, ``event_id`` and ``at``). Runs once per row of every log read, so
        the checks and comparisons are written out (each tuple compare is split into a cheap first-key test)."""
        if "kind" in row or "event_type" in row or "type" in row:
            return
        event_id = row.get("event_id")
        at = row.get("at")
        wp_id = row.get("wp_id")
        to_lane = row.get("to_lane")
        if not (isinstance(wp_id, str) and isinstance(to_lane, str) and isinstance(event_id, str)
                and isinstance(at, str)):
            return
        if not self.seen.add(event_id):
            return
        if at > self.last_at or self.last_id is None or (at == self.last_at and event_id > self.last_id):
            self.last_at, self.last_id = at, event_id
        mission_id = row.get("mission_id")
        if mission_id and isinstance(mission_id, str):
            known = self.mission_ids.get(mission_id)
            if known is None or at < known[0] or (at == known[0] and event_id < known[1]):
                self.mission_ids[mission_id] = (at, event_id)
        wp = self.wps.get(wp_id)
        if wp is None:
            wp = self.wps[wp_id] = _WorkPackage()
        if row.get("force") is True:
            wp.force_count += 1
        if at < wp.at:
            return
        rollback = 1 if to_lane == "in_progress" and is_rollback(row) else 0
        if at == wp.at and (rollback < wp.rollback or (rollback == wp.rollback and event_id <= wp.event_id)):
            return
        wp.at, wp.rollback, wp.event_id, wp.to_lane, wp.actor = at, rollback, event_id, to_lane, row.get("actor")

    def mission_id(self) -> str | None:
        """The mission id the earliest transition carries (rows of one mission all carry the same)."""
        if not self.mission_ids:
            return None
        return min(self.mission_ids.items(), key=lambda item: item[1])[0]

    def lane_of(self, wp_id: str) -> str:
        """The work package's current lane (``genesis`` when it never moved)."""
        wp = self.wps.get(wp_id)
        return ALIASES.get(wp.to_lane, wp.to_lane) if wp is not None else GENESIS

    def snapshot(self) -> dict[str, Any]:
        """The keys of spec-kitty's ``status.json`` this project reproduces."""
        summary = dict.fromkeys(LANES, 0)
        work_packages: dict[str, dict[str, Any]] = {}
        for wp_id in sorted(self.wps):
            wp = self.wps[wp_id]
            lane = ALIASES.get(wp.to_lane, wp.to_lane)
            if lane in summary:
                summary[lane] += 1
            work_packages[wp_id] = {"lane": lane, "last_event_id": wp.event_id, "last_transition_at": wp.at,
                                    "actor": wp.actor, "force_count": wp.force_count}
        return {
            "mission_slug": self.slug,
            "event_count": len(self.seen),
            "last_event_id": self.last_id,
            "materialized_at": self.last_at if self.last_id is not None else None,
            "summary": summary,
            "work_packages": work_packages,
        }

    # --- saved state (everything but the id set, which the cache keeps in its own file) ---------------

    def state(self) -> dict[str, Any]:
        return {
            "wps": {wp_id: [wp.at, wp.rollback, wp.event_id, wp.to_lane, wp.actor, wp.force_count]
                    for wp_id, wp in self.wps.items()},
            "last": [self.last_at, self.last_id] if self.last_id is not None else None,
            "mission_ids": {k: list(v) for k, v in self.mission_ids.items()},
        }

    @classmethod
    def from_state(cls, slug: str, state: dict[str, Any], seen: EventIds) -> Fold:
        fold = cls(slug, seen)
        for wp_id, (at, rollback, event_id, to_lane, actor, force_count) in state["wps"].items():
            wp = fold.wps[str(wp_id)] = _WorkPackage()
            wp.at, wp.rollback, wp.event_id, wp.to_lane = str(at), int(rollback), str(event_id), str(to_lane)
            wp.actor, wp.force_count = actor, int(force_count)
        if state["last"] is not None:
            fold.last_at, fold.last_id = str(state["last"][0]), str(state["last"][1])
        fold.mission_ids = {str(k): (str(v[0]), str(v[1])) for k, v in state["mission_ids"].items()}
        return fold


_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # json.loads' own C scanner, set at init


def fold_lines(add: Callable[[dict[str, Any]], None], handle: Iterable[bytes], path: Path, line: int,
               problems: list[Problem]) -> tuple[int, bytes]:
    """``add`` (a fold's) every row of the complete lines of ``handle``; returns the last line number and a trailing
    line without its newline (b"" when none), which the caller folds only after saving its state.

    This is what ``status`` spends its time in. A line shaped as spec-kitty writes it (``{`` first, one
    ``\n`` right after the object) goes straight to the C scanner ``json.loads`` itself ends in, skipping
    ``json.loads``' Python layers (encoding sniffing, two regex matches): the same parser on the same
    text, so the same row. Every other line (blank, BOM, UTF-16, trailing spaces, an error) takes
    ``json.loads`` itself, so rows and error reasons stay exactly ``json.loads``'.
    """
    loads = json.loads
    scan = _SCAN
    for raw in handle:
        line += 1
        if raw[-1:] != b"\n":
            return line - 1, raw
        try:
            if raw[0] != 0x7B or raw[1] == 0:  # not "{": let json.loads sniff the encoding
                raise ValueError
            text = raw.decode("utf-8", "surrogatepass")  # what json.loads decodes "{..." bytes with
            row, end = scan(text, 0)
            if end != len(text) - 1:
                raise ValueError
        except (ValueError, StopIteration, RecursionError):
            if not raw.strip():
                continue
            try:
                row = loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                problems.append(Problem(path, line,
                                        catalog.MALFORMED_REASON_JSON.format(error=exc.__class__.__name__)))
                continue
        if type(row) is not dict:
            problems.append(Problem(path, line, catalog.MALFORMED_REASON_NOT_OBJECT))
            continue
        add(row)
    return line, b""


def fold_tail(add: Callable[[dict[str, Any]], None], raw: bytes, path: Path, line: int,
              problems: list[Problem]) -> None:
    """Fold a last line that has no newline yet (spec-kitty may be mid-append): read, never saved."""
    if not raw.strip():
        return
    row, reason = parse_line(raw)
    if row is None:
        problems.append(Problem(path, line, reason or ""))
    else:
        add(row)


def reduce(slug: str, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Fold lane transitions into a snapshot with the keys of spec-kitty's ``status.json``."""
    fold = Fold(slug)
    for row in rows:
        fold.add(row)
    return fold.snapshot()


def lane_counts(snapshot: dict[str, object]) -> str:
    """``planned 1, for_review 2``: the lanes holding work, in lane order (empty when none do)."""
    summary = snapshot["summary"]
    assert isinstance(summary, dict)
    return ", ".join(catalog.MISSION_SUMMARY_COUNT.format(lane=lane, count=count)
                     for lane, count in summary.items() if count)


class MissionRead(NamedTuple):
    """One mission's log read and folded once: what ``status``, ``tracker status`` and ``sync`` share."""

    snapshot: dict[str, Any]
    problems: list[Problem]
    mission_id: str | None


def read_mission(folder: Path, *, save: bool = True) -> MissionRead:
    """Read and fold ``folder``'s log: the one reducer every command uses.

    Streams the log (memory follows the work packages, not the rows) and, for a big log, starts from the
    repo-local saved fold (``orchestrator.missions.foldcache``) when it still describes a prefix of this exact log,
    folding only the rows appended since; ``save`` refreshes that cache (never under the home dir).
    """
    fold, problems, _ = foldcache.fold_mission(status_folder(folder), save=save)
    return MissionRead(fold.snapshot(), problems, fold.mission_id())


class NearMatch(MissionError):
    """A work package or lane that does not exist, with one that does and was probably meant: a usage
    error (exit 2, like click's own "did you mean"), nothing recorded."""

    exit_code = ExitCode.USAGE
    code = "near_match"


def check_lane(lane: str) -> str:
    """The lane a user typed (the alias ``doing`` included), or a one-line error listing the lanes (with
    the one probably meant: ``in-progress`` is ``in_progress``)."""
    found = canonical(lane)
    if found is None:
        import difflib

        spelled = canonical(lane.strip().lower().replace("-", "_").replace(" ", "_"))
        close = difflib.get_close_matches(lane.lower(), [*LANES, *ALIASES], n=1, cutoff=0.75)
        match = spelled or (canonical(close[0]) if close else None)
        if match is not None:
            raise NearMatch(catalog.UNKNOWN_LANE_NEAR.format(lane=lane, match=match, lanes=", ".join(LANES)))
        raise MissionError(catalog.UNKNOWN_LANE.format(lane=lane, lanes=", ".join(LANES)))
    return found


def same_number(wp_id: str, known: Iterable[str]) -> str | None:
    """A work package of ``known`` with ``wp_id``'s number written another way (``WP1`` and ``WP01``)."""
    number = int(wp_id[2:])
    return next((other for other in sorted(known) if other != wp_id and int(other[2:]) == number), None)


def check_wp(wp_id: str) -> str:
    if not WP_ID.fullmatch(wp_id):
        raise MissionError(catalog.NOT_A_WP_ID.format(wp_id=wp_id))
    return wp_id


class LaneRefused(MissionError):
    """A move outside spec-kitty's lane table, without ``--force``."""

    code = "lane_refused"

    def __init__(self, wp_id: str, from_lane: str, to_lane: str) -> None:
        lanes = reachable(from_lane)
        where = (catalog.LANE_REACHABLE.format(from_lane=from_lane, lanes=", ".join(lanes)) if lanes
                 else catalog.LANE_REACHABLE_NONE.format(from_lane=from_lane))
        super().__init__(catalog.LANE_REFUSED.format(wp_id=wp_id, from_lane=from_lane, to_lane=to_lane,
                                                     reachable=where))


class Move(NamedTuple):
    """What ``wp move`` records beside the lane, as spec-kitty's ``agent status emit`` records it.

    ``evidence`` is the done evidence already normalised (``done_evidence``); ``review_result`` the
    parsed review outcome (``review_result``). ``workspace_context``, ``subtasks_complete`` and
    ``implementation_evidence_present`` are guard inputs in spec-kitty, never written to the row.
    """

    evidence: dict[str, Any] | None = None
    review_ref: str | None = None
    review_result: dict[str, Any] | None = None
    execution_mode: str = "worktree"
    workspace_context: str | None = None
    subtasks_complete: bool | None = None
    implementation_evidence_present: bool | None = None


def _parse_object(raw: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UsageProblem(catalog.MOVE_BAD_JSON.format(option=option, error=exc)) from None
    if not isinstance(value, dict):
        raise UsageProblem(catalog.MOVE_NOT_AN_OBJECT.format(option=option))
    return value


def done_evidence(raw: str) -> dict[str, Any]:
    """``--evidence-json`` as spec-kitty's ``DoneEvidence.to_dict()`` records it: ``review`` (reviewer,
    verdict, reference), then ``repos`` and ``verification`` only when non-empty, each entry reduced to
    its known keys. Malformed JSON, or evidence without a complete review, is a usage error (exit 2)."""
    value = _parse_object(raw, "--evidence-json")
    review = value.get("review")
    if not isinstance(review, dict) or not all(review.get(k) for k in ("reviewer", "verdict", "reference")) \
            or not str(review["reference"]).strip():
        raise UsageProblem(catalog.MOVE_EVIDENCE_INCOMPLETE)
    out: dict[str, Any] = {"review": {"reviewer": review["reviewer"], "verdict": review["verdict"],
                                      "reference": str(review["reference"])}}
    try:
        repos = [{"repo": r["repo"], "branch": r["branch"], "commit": r["commit"],
                  **({"files_touched": list(r["files_touched"])} if r.get("files_touched") else {})}
                 for r in value.get("repos", [])]
        checks = [{"command": v["command"], "result": v["result"], "summary": v["summary"]}
                  for v in value.get("verification", [])]
    except (KeyError, TypeError, AttributeError):
        raise UsageProblem(catalog.MOVE_EVIDENCE_ENTRIES) from None
    if repos:
        out["repos"] = repos
    if checks:
        out["verification"] = checks
    return out


def review_result(raw: str) -> dict[str, Any]:
    """``--review-result-json`` as spec-kitty parses it: non-empty reviewer, verdict (approved or
    changes_requested) and reference strings, an optional string ``feedback_path``."""
    value = _parse_object(raw, "--review-result-json")
    fields = [value.get(k) for k in ("reviewer", "verdict", "reference")]
    if not all(isinstance(f, str) and f.strip() for f in fields):
        raise UsageProblem(catalog.MOVE_REVIEW_INCOMPLETE)
    if value["verdict"] not in ("approved", "changes_requested"):
        raise UsageProblem(catalog.MOVE_REVIEW_VERDICT)
    feedback = value.get("feedback_path")
    if feedback is not None and not isinstance(feedback, str):
        raise UsageProblem(catalog.MOVE_REVIEW_FEEDBACK)
    out = {"reviewer": value["reviewer"], "verdict": value["verdict"], "reference": value["reference"]}
    if feedback is not None:
        out["feedback_path"] = feedback
    return out


class DiskFull(MissionError):
    """The whole row did not reach the log (a full disk, a file size limit): the log was put back."""

    code = "disk_full"


def append_transition(
    folder: Path, wp_id: str, to_lane: str, *, actor: str, reason: str | None, force: bool | None = False,
    enforce: bool = False, skip_if: Callable[[str], bool] | None = None, move: Move | None = None,
) -> dict[str, Any] | None:
    """Append one lane-transition row, in spec-kitty's format, and rewrite ``status.json`` to match.

    Under spec-kitty's own per-mission status lock (``orchestrator.missions.statuslock``: the file its
    ``agent status emit`` holds while it decides and writes), so neither tool decides from a stale lane:
    the log is opened only once the lock is held (spec-kitty replaces the file on every append), the
    current lane is read with the same fold ``status`` uses, the row is written, and ``status.json`` is
    rewritten as spec-kitty's ``materialize`` would (``orchestrator.missions.materialize``), all before the lock
    is released. ``enforce`` refuses a move outside the lane table unless ``force`` (``wp move``), and a
    move to ``done`` without done evidence unless ``force``; ``force=None`` records force exactly when
    spec-kitty would refuse the move otherwise (a lane pulled from the tracker is applied whatever it is,
    and says so). ``skip_if(current lane)`` lets a caller decide under that same lock (a pulled change
    applied by a concurrent sync is then not appended twice); when it says so, nothing is written and
    None is returned.

    The row is written whole or not at all: a short ``os.write`` (full disk) truncates the log back to
    its previous length and raises ``DiskFull``.
    """
    from orchestrator.missions import materialize, statuslock

    check_wp(wp_id)
    to_lane = check_lane(to_lane)
    move = move or Move()
    primary = primary_of(folder)
    folder = status_folder(primary, create=True)
    path = folder / EVENTS_FILE
    with statuslock.held(primary.parent.parent, folder.name, path):
        try:  # never through a link: one committed to the repository could point at any file of the operator's
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise MissionError(catalog.LOG_IS_LINK.format(path=path)) from None
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or /dev/zero would swallow the row
                raise MissionError(catalog.LOG_NOT_REGULAR_REFUSED.format(path=path))
            fold, _, saving = foldcache.fold_mission(folder, save=False)
            from_lane = fold.lane_of(wp_id)
            if skip_if is not None and skip_if(from_lane):
                return None
            permitted = allowed(from_lane, to_lane)
            unproven = to_lane == "done" and move.evidence is None
            if force is None:
                force = not permitted or unproven
            if enforce and not force and from_lane == GENESIS:  # a new work package, or a typo of one?
                meant = same_number(wp_id, [w for w in fold.wps if WP_ID.fullmatch(w)])
                if meant is not None:
                    raise NearMatch(catalog.WP_NEAR_MATCH.format(wp_id=wp_id, mission=folder.name, match=meant))
            if enforce and not force and not permitted:
                raise LaneRefused(wp_id, from_lane, to_lane)
            if enforce and not force and unproven:
                raise MissionError(catalog.MOVE_DONE_NEEDS_EVIDENCE.format(wp_id=wp_id))
            row: dict[str, Any] = {
                "actor": actor,
                "at": datetime.now(UTC).isoformat(),
                "event_id": new_ulid(),
                "evidence": move.evidence,
                "execution_mode": move.execution_mode,
                "force": force,
                "from_lane": from_lane,
                "mission_slug": folder.name,
                "policy_metadata": None,
                "reason": reason,
                "review_ref": move.review_ref,
                "to_lane": to_lane,
                "wp_id": wp_id,
            }
            if move.review_result is not None:
                row["review_result"] = move.review_result
            mission_id = _meta_mission_id(primary) or fold.mission_id()
            if mission_id is not None:
                row["mission_id"] = mission_id
            line = json.dumps(row, sort_keys=True) + "\n"
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = "\n" + line  # a torn last line stays its own (reported) line, never glued to ours
            try:
                write_all(fd, line.encode("utf-8"))
                os.fsync(fd)
            except OSError as exc:
                os.ftruncate(fd, size)  # the log as it was: no half row for anyone to read or send
                raise DiskFull(catalog.MOVE_DISK_FULL.format(path=path, reason=exc.strerror or exc)) from None
            saving()  # the fold as read (our row is folded by the next reader): only after a move succeeded
            # where spec-kitty's own materialize would fail on this log too, status.json is left to it
            with contextlib.suppress(materialize.Unreproducible):
                materialize.write(folder, path)
            return row
        finally:
            os.close(fd)
