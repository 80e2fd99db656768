"""The tracker step of a sync: pull the tracker's changes, apply or report them, then push the lanes
that moved here.

Runs after the mission's events are uploaded (``orchestrator.sync.run`` composes the two): the lanes
pushed come from rows the server holds (``orchestrator.tracker.held``), and the base a conflict is
judged against, with the conflicts found, is kept in the queue file (``orchestrator.tracker.ledger``).
The new cursor is stored last: a crash before it re-pulls the same changes, which then match the local
lanes and are skipped, so nothing is applied twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.home import paths
from orchestrator.missions.moves import append_transition
from orchestrator.sync.history import SyncHistory
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.rows import WP_ID_ASCII
from orchestrator.sync.target import SyncTarget, Tally
from orchestrator.tracker.held import held_lanes
from orchestrator.tracker.ledger import TrackerLedger
from states import catalog
from states.contract import WP_ID
from states.lanes import LANES

if TYPE_CHECKING:
    from orchestrator.saas.client import SaasClient
    from orchestrator.tracker.service import TrackerRoute

PULL_ACTOR = "spec-kitty-sync"
PULL_REASON = "pulled from SaaS"


async def exchange(client: SaasClient, queue: EventQueue, target: SyncTarget, run: Tally) -> bool:
    """Pull the tracker's changes, apply or report them, then push the lanes that moved here; returns
    whether transitions were appended to the log.

    Through ``pull/`` and ``push/`` with spec-kitty's routing keys (``provider``, ``binding_ref`` or
    ``project_slug``), in the session's shared team. Conflicts follow the binding's ownership mode: a
    work package that moved both here and on the tracker since the last sync keeps the local lane when
    the log owns the status (``spec_kitty_authoritative``, the default, and ``split_ownership`` unless
    ``status`` is the tracker's), recorded for ``sync status`` and printed by ``sync run``; when the
    tracker owns it (``external_authoritative``, or ``split_ownership`` with ``status: external``) its
    lane is appended as a forced transition with the reason, and the conflict is recorded as resolved
    that way. The pull comes first and pushes nothing, because a push overrides the tracker's lane and
    a pull never returns a client's own change: pushing first would hide the conflict.
    """
    from orchestrator.tracker.service import TrackerRoute, convert_legacy, team_of

    key = target.key
    assert target.tracker is not None
    team = target.tracker_team or await team_of(client, None, target.server_url)
    binding = target.tracker
    if binding.legacy:
        binding = await convert_legacy(client, target.repo_root, team, target.server_url)
        run.notes.append(catalog.TRACKER_MIGRATED.format(old=paths.repo_config_file(target.repo_root),
                                                         new=target.repo_root / ".kittify" / "config.yaml"))
    route = TrackerRoute(binding, team)
    snapshot: dict[str, dict[str, Any]] = {}
    if target.mission_dir is not None:
        snapshot = held_lanes(queue, key, target.mission_dir / paths.EVENTS_FILE)
    base = TrackerLedger(queue).synced_lanes(key)
    moved = {wp_id for wp_id, wp in snapshot.items() if wp.get("last_event_id") != base.get(wp_id)}
    # Without a previous sync there is no "since": the first sync of a mission takes remote changes
    # as before (and records the base from then on).
    compare = bool(base) and run.cursor is not None
    changes, cursor = await _pull(client, route, target.mission, run.cursor)
    if target.mission_dir is None:
        return False  # nowhere to apply changes: keep the cursor so they are pulled once the folder exists
    owner = binding.status_owner()
    applied: dict[str, str] = {}
    for change in changes:
        wp_id, lane, seq = change.get("wp_id"), change.get("status"), change.get("seq")
        # spec-kitty work packages are WPnn; a remote issue named otherwise has no local counterpart
        if not (isinstance(wp_id, str) and WP_ID_ASCII.fullmatch(wp_id) and lane in LANES):
            continue
        local = snapshot.get(wp_id, {})
        local_lane = local.get("lane")
        # Without a sync history there is no "since", but a tracker change older than the log's last move
        # of that work package (a queue moved aside, a new host spelling) is not news to the log.
        stale = not compare and local_lane is not None and local_lane != lane and _older(
            change.get("changed_at"), local.get("last_transition_at"))
        forced = (compare and wp_id in moved and local_lane != lane) or stale
        if forced and owner != "external":
            _conflict(queue, run, key, wp_id, str(local_lane), str(lane))
            continue
        reason = catalog.TRACKER_WINS_REASON.format(mode=binding.ownership_mode, remote_lane=lane,
                                                    local_lane=local_lane) if forced else PULL_REASON
        row = append_transition(target.mission_dir, wp_id, str(lane), actor=PULL_ACTOR, reason=reason,
                                force=True if forced else None,
                                skip_if=_already_applied(queue, key, str(lane), local_lane, seq, forced))
        if row is None:
            continue
        if forced:
            _conflict(queue, run, key, wp_id, str(local_lane), str(lane), kept="remote")
        applied[wp_id] = str(row["event_id"])
        moved.discard(wp_id)
        run.pulled += 1
    lanes = _pushable({wp_id: wp for wp_id, wp in snapshot.items() if wp_id in moved})
    if lanes:
        await client.tracker_push(team, binding.provider, binding.routing(), [
            {"ref": f"{target.mission}/{wp_id}", "action": "set_status", "target_status": lane["lane"],
             "patch": {"last_event_id": lane["last_event_id"]}} for wp_id, lane in lanes.items()])
    TrackerLedger(queue).set_synced_lanes(key, {**{wp: v["last_event_id"] for wp, v in lanes.items()}, **applied})
    run.cursor = cursor
    SyncHistory(queue).set_cursor(key, cursor)
    return bool(applied)


MAX_PULL_PAGES = 100  # a host that keeps saying has_more stops here; the rest comes next run


async def _pull(client: SaasClient, route: TrackerRoute, mission: str,
                cursor: int | None) -> tuple[list[dict[str, Any]], int]:
    """Every change since ``cursor``, page after page, kept when it is this mission's (each item names its
    ``mission_slug``; the request carries only spec-kitty's keys); the new cursor. A cursor this client
    cannot store (not a number) counts as none: the pull starts over."""
    binding = route.binding
    changes: list[dict[str, Any]] = []
    text = str(cursor) if cursor is not None else None
    for _ in range(MAX_PULL_PAGES):
        answer = await client.tracker_pull(route.team, binding.provider, binding.routing(), cursor=text)
        changes += [item for item in answer.get("items") or [] if isinstance(item, dict)
                    and item.get("mission_slug") == mission]
        following = answer.get("next_cursor")
        text = str(following) if following is not None else text
        if not answer.get("has_more"):
            break
    return changes, int(text) if text is not None and text.isdigit() else 0


def _older(remote_at: object, local_at: object) -> bool:
    """Whether a tracker change made at ``remote_at`` is older than the local move at ``local_at`` (False
    when either time is missing or unreadable, or they are equal: then the change is news, as before)."""
    from orchestrator.sessions.store import parse_time

    remote = parse_time(remote_at) if isinstance(remote_at, str) else None
    local = parse_time(local_at) if isinstance(local_at, str) else None
    return remote is not None and local is not None and remote < local


def _already_applied(queue: EventQueue, key: str, lane: str, local_lane: object, seq: object,
                     forced: bool = False) -> Callable[[str], bool]:
    """The decision taken under the log's lock: skip when the log already has the lane (a concurrent
    sync applied it), when another sync already moved the cursor past this change, or when the work
    package moved here since the snapshot (the operator's move wins; it is pushed next run)."""

    def skip(current: str) -> bool:
        if current == lane:
            return True
        stored = SyncHistory(queue).get_cursor(key)
        if stored is not None and isinstance(seq, int) and stored >= seq:
            return True
        return local_lane is not None and current != local_lane and not forced

    return skip


def _conflict(queue: EventQueue, run: Tally, key: str, wp_id: str, local_lane: str, remote_lane: str,
              kept: str = "local") -> None:
    TrackerLedger(queue).add_conflict(key, wp_id, local_lane, remote_lane, kept)
    run.conflicts.append({"wp_id": wp_id, "local_lane": local_lane, "remote_lane": remote_lane, "kept": kept})


def _pushable(snapshot: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The lanes the server will accept: one odd row in a log must not make every tracker sync fail."""
    lanes = {}
    for wp_id, wp in snapshot.items():
        lane, last_event_id = wp.get("lane"), wp.get("last_event_id")
        if WP_ID.fullmatch(wp_id) and lane in LANES and isinstance(last_event_id, str) and last_event_id:
            lanes[wp_id] = {"lane": str(lane), "last_event_id": last_event_id}
    return lanes

