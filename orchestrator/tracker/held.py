"""The lanes the server holds: folded only from log rows it stores, so every lane pushed to the tracker
names a ``last_event_id`` the server has.

A row the scan has not reached, one still queued, and one parked never names a lane here. The sync's log
scan grows this fold as it reads (``held_row`` admits its rows), so the tracker step reads nothing again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.missions import savedfold
from orchestrator.sync.deadletters import DeadLetters
from orchestrator.sync.rows import WP_ID_ASCII
from orchestrator.sync.scan import LogScanner
from orchestrator.sync.store import Store


def held_row(row: dict[str, Any]) -> bool:
    """Whether a row may name a pushed lane: it has an event id, and a ``wp_id`` the SaaS accepts
    (a row with another ``wp_id`` is parked by the scan, so the server never holds it)."""
    wp_id = row.get("wp_id")
    return isinstance(row.get("event_id"), str) and not (
        "wp_id" in row and not (isinstance(wp_id, str) and wp_id.isascii() and WP_ID_ASCII.fullmatch(wp_id)))


def held_rows(queue: Store, key: str, log_path: Path) -> list[dict[str, Any]]:
    """The log's rows the server holds: scanned into the queue and neither pending nor parked. Reads
    the whole scanned log: the reference ``held_lanes`` is tested against, not what a sync runs."""
    import json

    offset = LogScanner(queue).scanned_offset(key, log_path)
    if offset <= 0:
        return []
    try:
        with open(log_path, "rb") as handle:
            data = handle.read(offset)
    except OSError:
        return []
    skip = DeadLetters(queue).not_held(key)
    rows = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(row, dict) and row.get("event_id") not in skip and held_row(row):
            rows.append(row)
    return rows


def held_lanes(queue: Store, key: str, log_path: Path) -> dict[str, dict[str, Any]]:
    """The work packages folded from the rows the server holds (``held_rows``), reading only the rows
    scanned since the last sync: the fold of the rows before is kept in the repo's cache
    (``orchestrator.missions.savedfold``, view ``held``) and is byte-for-byte the fold of the whole scanned log.

    The lanes pushed to the tracker come from these only, so every ``last_event_id`` it is told is one
    it stores (a row past the scan, still queued, or parked never names a lane). Streamed and never
    raising on a bad line, so one malformed line cannot stop the tracker sync."""
    offset = LogScanner(queue).scanned_offset(key, log_path)
    if offset <= 0:
        return {}
    try:
        fold, _, _ = savedfold.fold_mission(log_path.parent, save=True, view="held", end=offset, admit=held_row,
                                            exclude=DeadLetters(queue).not_held(key))
    except OSError:
        return {}
    work_packages: dict[str, Any] = fold.snapshot()["work_packages"]
    return work_packages

