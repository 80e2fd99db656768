"""A move: checking what ``wp move`` was asked, then appending one lane transition as spec-kitty would.

The row is decided and written under spec-kitty's own status lock, from the same fold ``status`` reads
(``append_transition``), and ``status.json`` is rewritten to match. Wrong input is a usage error that
names what was probably meant (``NearMatch``); a move outside the lane table is refused unless forced.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.errors import MissionError, UsageProblem
from orchestrator.home.fsutil import write_all
from orchestrator.home.paths import EVENTS_FILE
from orchestrator.missions.folders import meta_mission_id, primary_of, status_folder
from orchestrator.missions.log import StatusRow
from orchestrator.missions.savedfold import fold_mission
from orchestrator.missions.ulid import new_ulid
from states import catalog
from states.catalog import ExitCode
from states.contract import WP_ID
from states.lanes import ALIASES, GENESIS, LANES, allowed, canonical, reachable


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
) -> StatusRow | None:
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
            fold, _, saving = fold_mission(folder, save=False)
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
            row: StatusRow = {
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
            mission_id = meta_mission_id(primary) or fold.mission_id()
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
