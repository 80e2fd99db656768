"""spec-kitty's reducer: a mission's lane transitions folded into the snapshot its ``status.json`` shows.

Logs of parallel worktrees arrive through git merges with lines interleaved and repeated, so the
snapshot must not depend on line order or repeats (``Fold``). Nothing here opens a file: the reader
(``savedfold.fold_mission``, or ``log.read_log`` then ``reduce``) hands the fold its rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypedDict

from orchestrator.missions.eventids import EventIds
from orchestrator.missions.log import Problem, StatusRow, is_rollback, parse_line
from states import catalog
from states.lanes import ALIASES, GENESIS, LANES


class WorkPackageSnapshot(TypedDict):
    """One work package in a snapshot: its lane and the transition that put it there."""

    lane: str
    last_event_id: str
    last_transition_at: str
    actor: Any  # as the winning row carries it: a name, a structured actor, or None
    force_count: int  # distinct transitions of this work package recorded with ``force``


class Snapshot(TypedDict):
    """A mission's state as ``reduce`` and ``Fold.snapshot`` produce it: the keys of spec-kitty's
    ``status.json`` this project reproduces (``status --json`` prints it as is; ``materialize`` writes
    the whole file spec-kitty would)."""

    mission_slug: str
    event_count: int  # distinct lane transitions (by event_id)
    last_event_id: str | None  # the last transition by (at, event_id); None for an empty log
    materialized_at: str | None  # that transition's ``at``
    summary: dict[str, int]  # work packages per lane, every lane of ``states.lanes.LANES`` in order
    work_packages: dict[str, WorkPackageSnapshot]  # by wp_id, in wp_id order


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
    (see ``orchestrator.missions.savedfold``) with the same result as folding the whole log again.
    """

    def __init__(self, slug: str, seen: EventIds | None = None) -> None:
        self.slug = slug
        self.seen = seen if seen is not None else EventIds()
        self.wps: dict[str, _WorkPackage] = {}
        self.last_at = ""
        self.last_id: str | None = None
        self.mission_ids: dict[str, tuple[str, str]] = {}  # mission_id -> its earliest (at, event_id)

    def add(self, row: StatusRow) -> None:
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

    def snapshot(self) -> Snapshot:
        """The keys of spec-kitty's ``status.json`` this project reproduces."""
        summary = dict.fromkeys(LANES, 0)
        work_packages: dict[str, WorkPackageSnapshot] = {}
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


def fold_lines(add: Callable[[StatusRow], None], handle: Iterable[bytes], path: Path, line: int,
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
    fold_row: Callable[[Any], None] = add  # a JSON object as read is a row (``StatusRow`` says why untrusted)
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
        fold_row(row)
    return line, b""


def fold_tail(add: Callable[[StatusRow], None], raw: bytes, path: Path, line: int,
              problems: list[Problem]) -> None:
    """Fold a last line that has no newline yet (spec-kitty may be mid-append): read, never saved."""
    if not raw.strip():
        return
    row, reason = parse_line(raw)
    if row is None:
        problems.append(Problem(path, line, reason or ""))
    else:
        add(row)


def reduce(slug: str, rows: Iterable[StatusRow]) -> Snapshot:
    """Fold lane transitions into a snapshot with the keys of spec-kitty's ``status.json``."""
    fold = Fold(slug)
    for row in rows:
        fold.add(row)
    return fold.snapshot()


def lane_counts(snapshot: Snapshot) -> str:
    """``planned 1, for_review 2``: the lanes holding work, in lane order (empty when none do)."""
    return ", ".join(catalog.MISSION_SUMMARY_COUNT.format(lane=lane, count=count)
                     for lane, count in snapshot["summary"].items() if count)

