"""``status.json`` as spec-kitty's ``materialize`` writes it, byte for byte.

spec-kitty (3.2.7) rewrites ``kitty-specs/<slug>/status.json`` after every transition it appends, and
its validator (``agent status validate``) reports "Materialization drift" when that file no longer
matches its reducer over the log. A move of ours must therefore leave the very file spec-kitty would
have written for the new log, or spec-kitty's next command trips over it. This module is that writer:
the log read as spec-kitty partitions it (lane transitions; ``kind: annotation`` rows folded after
them; rows with ``event_type``, retrospective ``event_name``/``type`` skipped), the transitions
de-duplicated by ``event_id``, ordered by (``at``, ``event_id``) and folded with its rollback
precedence and its per-work-package slots, then ``json.dumps(sort_keys=True, indent=2,
ensure_ascii=False)`` plus a newline, written to ``status.json.tmp`` and renamed.

Where spec-kitty itself would refuse the log (a lane row missing a required key, an unknown ``kind``, a
corrupt ``meta.json``), its materialize raises and leaves ``status.json`` alone; so does ``write``
(``Unreproducible``). ``orchestrator.missions.fold.Fold`` stays the fast reader ``status`` uses; this module
runs only when a transition was written, under the mission's status lock.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

SNAPSHOT_FILE = "status.json"
META_FILE = "meta.json"

# spec-kitty's ``Lane`` minus its non-display lanes (``genesis``, ``uninitialized``).
DISPLAY_LANES = ("planned", "claimed", "in_progress", "for_review", "in_review", "approved", "done", "blocked",
                 "canceled")
ALL_LANES = frozenset({*DISPLAY_LANES, "genesis", "uninitialized"})
RUNTIME_SLOTS = ("shell_pid", "shell_pid_created_at", "subtasks", "notes", "tracker_refs", "agent", "assignee",
                 "review", "role", "agent_profile", "agent_profile_version", "model", "provider")
REPLACE_SLOTS = ("shell_pid", "shell_pid_created_at", "agent", "assignee", "role", "agent_profile",
                 "agent_profile_version", "model", "provider")
BLANKABLE = ("shell_pid_created_at", "agent", "assignee", "role", "agent_profile", "agent_profile_version", "model",
             "provider")
CLAIM_RELEASE_SLOTS = ("agent", "shell_pid", "shell_pid_created_at")
ACTOR_FIELDS = frozenset({"role", "profile", "tool", "model"})
RETRO_TYPES = frozenset({"RetrospectiveCaptured", "RetrospectiveCaptureFailed", "RetrospectiveSkipped"})
SYNTHETIC_PREFIXES = ("Force move to ", "move-task: ")
REQUIRED = ("event_id", "wp_id", "from_lane", "to_lane", "at", "actor", "force", "execution_mode")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NUMBERED = re.compile(r"^(?P<number>\d+)-")


class Unreproducible(Exception):
    """spec-kitty's materialize would fail on this log: leave ``status.json`` as it is."""


def _actor(value: Any) -> Any:
    """``decode_actor``: a structured actor must carry exactly its four keys; a scalar becomes ``str``."""
    if isinstance(value, dict):
        if set(value) != ACTOR_FIELDS or any(v is not None and not isinstance(v, str) for v in value.values()):
            raise Unreproducible("structured actor")
        return dict(value)
    return str(value)


def _actor_identity(actor: Any) -> str:
    if isinstance(actor, dict):
        return str(actor.get("tool") or actor.get("role") or "")
    return str(actor)


def _safe_slug(slug: Any, fallback: str) -> str:
    """``safe_mission_slug``: an event's slug only when it is one safe path segment."""
    if not slug:
        return fallback
    text = str(slug)
    stripped = text.strip()
    if (not stripped or text != stripped or ".." in stripped or stripped.startswith(".") or "/" in stripped
            or "\\" in stripped or not _SAFE_SEGMENT.fullmatch(stripped)):
        return fallback
    return text


def _review_result(raw: Any) -> dict[str, Any] | None:
    """``ReviewResult.from_dict(...).to_dict()`` for a truthy value (a falsy one means none)."""
    if not raw:
        return None
    try:
        out = {"reviewer": raw["reviewer"], "verdict": raw["verdict"], "reference": raw["reference"]}
    except (KeyError, TypeError):
        raise Unreproducible("review_result") from None
    if raw.get("feedback_path") is not None:
        out["feedback_path"] = raw["feedback_path"]
    return out


def _is_rollback(row: dict[str, Any]) -> bool:
    if row["to_lane"] != "in_progress":
        return False
    return row["from_lane"] == "in_review" or (row["from_lane"] == "for_review" and row.get("review_ref") is not None)


def partition(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(lane transitions, annotations), as spec-kitty's ``read_event_stream`` splits the log."""
    transitions: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for row in rows:
        kind = row.get("kind")
        if kind is not None:
            if kind != "annotation" or not isinstance(row.get("delta"), dict):
                raise Unreproducible("kind")
            annotations.append(row)
            continue
        name = row.get("event_name")
        if isinstance(name, str) and name.startswith("retrospective."):
            continue
        if (isinstance(row.get("type"), str) and row["type"] in RETRO_TYPES) or "event_type" in row:
            continue
        if any(key not in row for key in REQUIRED) or row["from_lane"] not in ALL_LANES \
                or row["to_lane"] not in ALL_LANES:
            raise Unreproducible("lane row")
        transitions.append(row)
    return transitions, annotations


def _wp_state(row: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """``_wp_state_from_event``: the new lane plus every runtime slot carried forward."""
    state: dict[str, Any] = {
        "lane": row["to_lane"],
        "actor": _actor_identity(_actor(row["actor"])),
        "last_transition_at": row["at"],
        "last_event_id": row["event_id"],
        "force_count": (previous or {}).get("force_count", 0) + (1 if row["force"] else 0),
    }
    if previous is not None:
        for slot in RUNTIME_SLOTS:
            if slot in previous:
                state[slot] = previous[slot]
    if row["from_lane"] == "planned" and row["to_lane"] == "claimed":
        meta = row.get("policy_metadata") or {}
        for slot in ("shell_pid", "shell_pid_created_at"):
            if meta.get(slot) is not None:
                state[slot] = meta[slot]
        if meta.get("agent"):
            state["agent"] = meta["agent"]
    review = _review_result(row.get("review_result"))
    if review is not None or row["from_lane"] == "in_review":
        state["review_result"] = review
    elif previous is not None and "review_result" in previous:
        state["review_result"] = previous["review_result"]
    if row["to_lane"] == "canceled":
        state["cancellation_reason"] = row.get("reason")
        state["reason_source"] = _reason_source(row)
    return state


def _reason_source(row: dict[str, Any]) -> str:
    if row.get("reason_source") is not None:
        return str(row["reason_source"])
    reason = row.get("reason")
    if reason is None or not str(reason).strip() or str(reason).startswith(SYNTHETIC_PREFIXES):
        return "synthetic"
    return "operator"


def _apply_delta(state: dict[str, Any], delta: dict[str, Any]) -> None:
    """``_apply_annotation_delta``: release first, then replace slots, subtasks, notes, refs, review."""
    delta = {k: (None if k in BLANKABLE and v == "" else v) for k, v in delta.items()}
    if delta.get("release_runtime_claim"):
        for name in CLAIM_RELEASE_SLOTS:
            state[name] = None
    for name in REPLACE_SLOTS:
        value = delta.get(name)
        if value is not None and value != "":
            state[name] = value
    if delta.get("subtasks") is not None:
        subtasks = dict(state.get("subtasks") or {})
        subtasks.update({str(k): str(v) for k, v in delta["subtasks"].items()})
        state["subtasks"] = subtasks
    if delta.get("note") is not None:
        state["notes"] = [*(state.get("notes") or []), delta["note"]]
    if delta.get("tracker_refs_replace") is not None:
        state["tracker_refs"] = list(dict.fromkeys(delta["tracker_refs_replace"]))
    elif delta.get("tracker_refs") is not None:
        merged = list(state.get("tracker_refs") or [])
        merged += [ref for ref in delta["tracker_refs"] if ref not in merged]
        state["tracker_refs"] = merged
    review = delta.get("review")
    if review is not None:
        try:
            override = {k: str(review[k]) for k in ("at", "actor", "wp_id", "reason")}
        except (KeyError, TypeError):
            raise Unreproducible("review override") from None
        state["review"] = None if not any(override.values()) else override


def reduce(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """spec-kitty's ``reduce``: the snapshot (without the mission identity fields) for ``rows``."""
    transitions, annotations = partition(rows)
    seen: set[str] = set()
    unique = []
    for row in transitions:
        if row["event_id"] not in seen:
            seen.add(row["event_id"])
            unique.append(row)
    ordered = sorted(unique, key=lambda r: (r["at"], r["event_id"]))
    by_id = {row["event_id"]: row for row in ordered}
    states: dict[str, dict[str, Any]] = {}
    for row in ordered:
        current = states.get(row["wp_id"])
        if current is not None and current.get("last_transition_at") == row["at"]:
            setter = by_id.get(current.get("last_event_id"))
            if setter is not None and _is_rollback(setter) and not _is_rollback(row):
                continue  # a forward move never beats a rollback at the same instant
        states[row["wp_id"]] = _wp_state(row, current)
    for note in sorted(annotations, key=lambda a: (a["at"], a["event_id"])):
        state = states.get(note["wp_id"])
        if state is None:
            state = states[str(note["wp_id"])] = {
                "lane": "uninitialized", "actor": _actor_identity(_actor(note["actor"])),
                "last_transition_at": None, "last_event_id": None, "force_count": 0}
        _apply_delta(state, note["delta"])
    summary = dict.fromkeys(DISPLAY_LANES, 0)
    for state in states.values():
        if state["lane"] in summary:
            summary[state["lane"]] += 1
    last = ordered[-1] if ordered else None
    return {
        "mission_slug": _safe_slug(ordered[0].get("mission_slug") or ordered[0].get("feature_slug"), "")
        if ordered else "",
        "materialized_at": last["at"] if last else "",
        "event_count": len(ordered),
        "last_event_id": last["event_id"] if last else None,
        "work_packages": states,
        "summary": summary,
    }


def _meta(folder: Path) -> dict[str, Any]:
    try:
        raw = (folder / META_FILE).read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise Unreproducible("meta.json") from exc
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError):
        raise Unreproducible("meta.json") from None
    if not isinstance(meta, dict):
        raise Unreproducible("meta.json")
    return meta


def _mission_number(raw: Any) -> str | None:
    """meta.json's ``mission_number`` as spec-kitty coerces it (int, digit string or null)."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise Unreproducible("mission_number")
    if isinstance(raw, int):
        return str(raw)
    if not raw.strip():
        return None
    stripped = raw.strip().lstrip("0")
    try:
        return str(int(stripped) if stripped else 0)
    except ValueError:
        raise Unreproducible("mission_number") from None


def snapshot(folder: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole ``status.json`` object for ``rows``, with identity from ``folder``'s own ``meta.json``
    (a coordination worktree's folder has none: spec-kitty then writes empty number and type too)."""
    reduced = reduce(rows)
    meta = _meta(folder)
    slug = str(reduced["mission_slug"]).strip()
    number = (_mission_number(meta.get("mission_number")) or "").strip()
    if not number:
        match = _NUMBERED.match(slug)
        if match is not None:
            digits = match.group("number")
            number = str(int(digits.lstrip("0") or "0") or int(digits))
    kind = meta.get("mission_type")
    return {
        "mission_slug": slug,
        "mission_number": number,
        "mission_type": kind.strip() if isinstance(kind, str) else "",
        "materialized_at": reduced["materialized_at"],
        "event_count": reduced["event_count"],
        "last_event_id": reduced["last_event_id"],
        "work_packages": reduced["work_packages"],
        "summary": reduced["summary"],
    }


def render(folder: Path, rows: list[dict[str, Any]]) -> str:
    """The exact text spec-kitty's ``materialize_to_json`` gives."""
    return json.dumps(snapshot(folder, rows), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def read_rows(log: Path) -> list[dict[str, Any]]:
    """Every row of the log, or ``Unreproducible`` where spec-kitty's reader would stop (bad JSON)."""
    try:
        text = log.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreproducible("log") from exc
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line.strip())
        except (ValueError, RecursionError):
            raise Unreproducible("log line") from None
        if not isinstance(row, dict):
            raise Unreproducible("log line")
        rows.append(row)
    return rows


def write(folder: Path, log: Path) -> bool:
    """Rewrite ``folder/status.json`` for ``log`` as spec-kitty would: unchanged bytes are not rewritten,
    new ones go to ``status.json.tmp`` and are renamed over it. Returns whether a file was written; raises
    ``Unreproducible`` (and writes nothing) where spec-kitty's own materialize would fail."""
    text = render(folder, read_rows(log))
    out = folder / SNAPSHOT_FILE
    try:
        if out.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    tmp = folder / (SNAPSHOT_FILE + ".tmp")
    data = text.encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        from orchestrator.home.fsutil import write_all

        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, out)
    return True
