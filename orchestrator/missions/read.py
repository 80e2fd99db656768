"""One mission's log read and folded once: what ``status``, ``tracker status``, ``sync`` and the handles
that name a mission by its id share (``read_mission``)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from orchestrator.missions.fold import Snapshot
from orchestrator.missions.folders import meta_mission_id, status_folder
from orchestrator.missions.log import Problem
from orchestrator.missions.savedfold import fold_mission


class MissionRead(NamedTuple):
    """One mission's log read and folded once: what ``status``, ``tracker status`` and ``sync`` share."""

    snapshot: Snapshot
    problems: list[Problem]
    mission_id: str | None


def read_mission(folder: Path, *, save: bool = True) -> MissionRead:
    """Read and fold ``folder``'s log: the one reducer every command uses.

    Streams the log (memory follows the work packages, not the rows) and, for a big log, starts from the
    repo-local saved fold (``orchestrator.missions.savedfold``) when it still describes a prefix of this
    exact log, folding only the rows appended since; ``save`` refreshes that cache (never under the home dir).
    """
    fold, problems, _ = fold_mission(status_folder(folder), save=save)
    return MissionRead(fold.snapshot(), problems, fold.mission_id())


def mission_id_of(folder: Path) -> str | None:
    """``mission_id`` from ``meta.json`` when it has one, else from the log's transitions."""
    return meta_mission_id(folder) or read_mission(folder).mission_id
