"""The one-shot sync engine: given a mission log, a queue and the real dev SaaS app on loopback (in-process,
behind a fault-injection middleware; as its own process in the last test), when ``sync_once`` runs, then
every lane row arrives exactly once as an envelope naming it, lanes go both ways, and a failure at any point
loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.loopback_saas import LoopbackSaas

from orchestrator.missions.fold import reduce
from orchestrator.missions.log import read_log
from orchestrator.missions.moves import append_transition
from orchestrator.missions.ulid import new_ulid
from orchestrator.saas.client import run_with_client
from orchestrator.saas.errors import HostUnreachable, RequestFailed, ServerFailed
from orchestrator.sync import upload
from orchestrator.sync.envelopes import EnvelopeContext
from orchestrator.sync.history import SyncHistory
from orchestrator.sync.mission_ref import MissionRef
from orchestrator.sync.queue import EventQueue
from orchestrator.sync.run import run_sync, sync_once
from orchestrator.sync.target import SyncResult, SyncTarget
from orchestrator.tracker.binding import Binding
from orchestrator.tracker.exchange import PULL_ACTOR, PULL_REASON
from orchestrator.tracker.ledger import TrackerLedger

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "missions"
MISSION = "001-demo"
PROJECT = "1d231484-659e-47f6-bb5e-23c777f7d9aa"  # the repository's project_uuid: the queue's and the host's key
CONTEXT = EnvelopeContext(PROJECT, "proj", "b805cd5cee74", "ca0848fb-2ef4-5290-bb14-c329f56bb05f", "dev-private",
                          "main", None, None)
TOKEN = "skd_sync-test-token-never-printed"


def _split_rows(body: str) -> list[str]:
    """The row texts of ``{"events":[r1,r2,...]}`` exactly as sent (raw_decode finds each row's end)."""
    decoder = json.JSONDecoder()
    prefix = '{"events":['
    assert body.startswith(prefix)
    rows, index = [], len(prefix)
    while body[index] != "]":
        _, end = decoder.raw_decode(body, index)
        rows.append(body[index:end])
        index = end + 1 if body[end] == "," else end
    return rows


def fixture_lines(n: int) -> list[str]:
    """``n`` real lane rows of the fixture missions, re-keyed (their annotations never travel: not counted)."""
    base = [row for f in sorted(FIXTURES.glob("*/status.events.jsonl"))
            for row in map(json.loads, filter(str.strip, f.read_text().splitlines()))
            if isinstance(row.get("to_lane"), str) and len(json.dumps(row)) < 100_000]
    return [json.dumps(dict(base[i % len(base)], event_id=new_ulid(), mission_slug=MISSION), sort_keys=True)
            for i in range(n)]


def log_of(repo: Path) -> Path:
    return repo / "kitty-specs" / MISSION / "status.events.jsonl"


def write_lines(repo: Path, lines: list[str]) -> None:
    with log_of(repo).open("a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))


def tracker_of(saas: LoopbackSaas, ref: str | None = None, mode: str = "spec_kitty_authoritative") -> Binding:
    """The repository's binding (its ``tracker:`` block) to the loopback host's built-in tracker."""
    return Binding("github", ref or saas.binding_ref, "proj", "dev-saas/issues", mode)


def target_for(saas: LoopbackSaas, repo: Path, *, with_folder: bool = True, ref: str | None = None,
               mode: str = "spec_kitty_authoritative") -> SyncTarget:
    return SyncTarget(server_url=saas.url, token=saas.token, project=PROJECT, mission=MISSION, repo_root=repo,
                      mission_dir=log_of(repo).parent if with_folder else None, context=CONTEXT,
                      tracker=tracker_of(saas, ref, mode), tracker_team="dev-team")


def pulled_with(saas: LoopbackSaas, cursor: int | None = None) -> dict[str, Any]:
    """The body of a tracker pull of this mission (``cursor`` absent on the first one)."""
    body = {"route": "tracker_pull", "provider": "github", "binding_ref": saas.binding_ref, "limit": 100}
    return body if cursor is None else {**body, "cursor": str(cursor)}


def sync_with(saas: LoopbackSaas, queue: EventQueue, repo: Path, *, with_folder: bool = True,
              retries: int = 0, timeout: float = 30.0, ref: str | None = None,
              mode: str = "spec_kitty_authoritative", **options: Any) -> SyncResult:
    """One ``sync_once``; by default with a client that does not retry (failures show at once)."""
    target = target_for(saas, repo, with_folder=with_folder, ref=ref, mode=mode)
    return run_with_client(saas.url, saas.token, lambda client: sync_once(client, queue, target, **options),
                           retries=retries, timeout=timeout)


def key_of(saas: LoopbackSaas) -> str:
    return MissionRef.at(saas.url, PROJECT, MISSION).key


def remote_change(saas: LoopbackSaas, wp_id: str, lane: str) -> int:
    return saas.remote_change(MISSION, wp_id, lane)


# --- upload ---------------------------------------------------------------------------------------------
def stored(saas: LoopbackSaas) -> list[str]:
    """The log rows (event ids) the server stored envelopes for, in arrival order."""
    return [str(e["causation_id"]) for e in saas.stored(PROJECT, MISSION)]


def ids(lines: list[str]) -> list[str]:
    """The event ids of the lane rows among ``lines``: what travels (annotations and other rows do not)."""
    rows = [json.loads(line) for line in lines]
    return [r["event_id"] for r in rows if isinstance(r.get("to_lane"), str) and isinstance(r.get("wp_id"), str)]


def test_every_lane_row_arrives_once_as_its_envelope_and_the_queue_empties(saas: LoopbackSaas, repo: Path,
                                                                    queue: EventQueue) -> None:
    lines = fixture_lines(1200)
    write_lines(repo, lines)
    result = sync_with(saas, queue, repo)
    assert (result.pushed, result.pulled, result.queued) == (1200, 0, 0)
    sizes = [len(_split_rows(body)) for body in saas.uploads]
    assert sum(sizes) == 1200
    assert max(sizes) <= 500
    assert stored(saas) == ids(lines)  # in order
    envelope = saas.stored(PROJECT, MISSION)[0]
    row = json.loads(lines[0])
    assert (envelope["aggregate_id"], envelope["timestamp"], envelope["payload"]["to_lane"]) == (
        row["wp_id"], row["at"], row["to_lane"])
    assert set(saas.sent.values()) == {1}
    again = sync_with(saas, queue, repo)
    assert (again.pushed, again.queued) == (0, 0)
    assert len(saas.uploads) == len(sizes)


def test_progress_is_reported_after_each_batch(saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    write_lines(repo, fixture_lines(35))
    seen: list[tuple[int, int]] = []
    sync_with(saas, queue, repo, batch_size=10, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(10, 35), (20, 35), (30, 35), (35, 35)]


def test_big_rows_are_split_into_requests_the_server_accepts(saas: LoopbackSaas, repo: Path, queue: EventQueue,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upload, "MAX_BATCH_BYTES", 4500)  # two rows of ~2 KiB each with their envelopes
    write_lines(repo, [json.dumps({"event_id": new_ulid(), "wp_id": "WP01", "to_lane": "planned", "at": "2026-01-01",
                                   "evidence": "x" * 900}) for _ in range(6)])
    assert sync_with(saas, queue, repo).pushed == 6
    assert [len(_split_rows(body)) for body in saas.uploads] == [2, 2, 2]


def test_a_failure_mid_drain_keeps_the_rest_and_the_next_run_finishes(saas: LoopbackSaas, repo: Path,
                                                                      queue: EventQueue) -> None:
    lines = fixture_lines(50)
    write_lines(repo, lines)
    saas.faults.fail_uploads_from = 2
    with pytest.raises(ServerFailed):
        sync_with(saas, queue, repo, batch_size=10)
    assert queue.count(key_of(saas)) == 30
    last = SyncHistory(queue).last_result(key_of(saas))
    assert last is not None
    assert (last["pushed"], last["queued"]) == (20, 30)
    assert "HTTP 500" in last["error"]
    saas.faults.fail_uploads_from = None
    result = sync_with(saas, queue, repo, batch_size=10)
    assert (result.pushed, result.queued) == (30, 0)
    assert set(saas.sent) == {json.loads(line)["event_id"] for line in lines}
    assert set(saas.sent.values()) == {1}


def test_a_busy_server_is_retried_when_it_says_when(saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    """429 with ``Retry-After: 0``: the client waits as told (here: not at all) and carries on."""
    lines = fixture_lines(20)
    write_lines(repo, lines)
    saas.faults.busy_uploads = 2
    result = sync_with(saas, queue, repo, batch_size=10, retries=2)
    assert (result.pushed, result.queued) == (20, 0)
    assert stored(saas) == ids(lines)
    assert set(saas.sent.values()) == {1}


def test_a_server_that_stays_busy_keeps_everything_queued(saas: LoopbackSaas, repo: Path,
                                                         queue: EventQueue) -> None:
    write_lines(repo, fixture_lines(5))
    saas.faults.busy_uploads = 3
    with pytest.raises(ServerFailed):
        sync_with(saas, queue, repo, retries=2)
    assert queue.count(key_of(saas)) == 5
    assert stored(saas) == []


def test_an_answer_lost_after_the_server_stored_the_batch_only_means_a_re_send(saas: LoopbackSaas, repo: Path,
                                                                                queue: EventQueue) -> None:
    """The server stored a batch but the client never heard back, so it never acked: the next run sends
    it again and the server's dedup by event id keeps one copy."""
    write_lines(repo, fixture_lines(30))
    saas.faults.lose_answers = 1
    with pytest.raises(HostUnreachable):
        sync_with(saas, queue, repo, batch_size=10)
    assert queue.count(key_of(saas)) == 30
    assert len(stored(saas)) == 10
    result = sync_with(saas, queue, repo, batch_size=10)
    assert (result.pushed, result.queued) == (30, 0)
    assert len(stored(saas)) == 30
    assert sorted(Counter(saas.sent.values()).items()) == [(1, 20), (2, 10)]


def test_a_stalled_answer_times_out_and_loses_nothing(saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    """The host sends headers and then nothing: the client's own bound ends the wait, the rows stay queued."""
    write_lines(repo, fixture_lines(5))
    saas.faults.stall_bodies = True
    with pytest.raises(HostUnreachable):
        sync_with(saas, queue, repo, timeout=0.5)
    assert queue.count(key_of(saas)) == 5


def test_only_acknowledged_rows_leave_the_queue(saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    """An event the host did not answer for stays queued, is not sent again in the same run (no loop), and
    goes with the next run."""
    lines = fixture_lines(25)
    write_lines(repo, lines)
    stuck = json.loads(lines[3])["event_id"]
    saas.faults.withhold_acks = {stuck}
    result = sync_with(saas, queue, repo, batch_size=10)
    assert (result.pushed, result.queued) == (24, 1)
    assert queue.pending(key_of(saas), 10) == [(stuck, lines[3])]
    saas.faults.withhold_acks = set()
    assert sync_with(saas, queue, repo, batch_size=10).queued == 0


def test_events_need_no_binding_and_a_missing_remote_binding_stops_only_the_tracker_step(
        saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    lines = fixture_lines(5)
    write_lines(repo, lines)
    with pytest.raises(RequestFailed) as refused:  # a binding the host does not know: binding_not_found
        sync_with(saas, queue, repo, ref="br_unknown")
    assert refused.value.code == "binding_not_found"
    assert queue.count(key_of(saas)) == 0
    assert stored(saas) == ids(lines)


def test_without_a_mission_folder_nothing_is_applied_and_the_cursor_waits(saas: LoopbackSaas, repo: Path,
                                                                          queue: EventQueue) -> None:
    remote_change(saas, "WP01", "done")
    result = sync_with(saas, queue, repo, with_folder=False)
    assert (result.pushed, result.pulled, result.cursor) == (0, 0, None)
    assert saas.syncs == [pulled_with(saas)]
    assert not log_of(repo).exists()


# --- tracker --------------------------------------------------------------------------------------------
def test_local_lanes_are_pushed_with_the_event_that_set_them(saas: LoopbackSaas, repo: Path,
                                                             queue: EventQueue) -> None:
    folder = log_of(repo).parent
    append_transition(folder, "WP01", "claimed", actor="me", reason=None)
    last = append_transition(folder, "WP01", "in_progress", actor="me", reason=None)
    other = append_transition(folder, "WP02", "for_review", actor="me", reason=None)
    write_lines(repo, [json.dumps({"event_id": new_ulid(), "wp_id": "WP03", "to_lane": "genesis", "at": "2026-01-01"}),
                       json.dumps({"event_id": new_ulid(), "kind": "annotation", "wp_id": "WP01"})])
    result = sync_with(saas, queue, repo)
    assert result.pushed == 5
    # issue 10: pull first (pushing nothing, so a conflict cannot be hidden), then push what moved here
    route = {"provider": "github", "binding_ref": saas.binding_ref}
    assert saas.syncs == [pulled_with(saas), {"route": "tracker_push", **route, "items": [
        {"ref": f"{MISSION}/WP01", "action": "set_status", "target_status": "in_progress",
         "patch": {"last_event_id": last["event_id"]}},
        {"ref": f"{MISSION}/WP02", "action": "set_status", "target_status": "for_review",
         "patch": {"last_event_id": other["event_id"]}},
    ]}]  # WP03's lane is not one the server knows, so it is not pushed (it would refuse the whole sync)
    issues = saas.issues(MISSION)
    assert {wp: issue["lane"] for wp, issue in issues.items()} == {"WP01": "in_progress", "WP02": "for_review"}


def test_remote_changes_are_appended_once_and_uploaded_in_the_same_run(saas: LoopbackSaas, repo: Path,
                                                                       queue: EventQueue) -> None:
    folder = log_of(repo).parent
    append_transition(folder, "WP01", "in_progress", actor="me", reason=None)
    append_transition(folder, "WP02", "planned", actor="me", reason=None)
    first = sync_with(saas, queue, repo)  # the server learns the local lanes first
    assert (first.pushed, first.pulled) == (2, 0)
    remote_change(saas, "WP01", "done")
    remote_change(saas, "WP02", "planned")  # already the local lane: nothing to append
    last_seq = remote_change(saas, "ISSUE-7", "done")  # not a spec-kitty work package
    result = sync_with(saas, queue, repo)
    assert (result.pulled, result.cursor, result.queued) == (1, last_seq, 0)
    rows = read_log(log_of(repo)).rows
    pulled = rows[-1]
    assert (pulled["wp_id"], pulled["from_lane"], pulled["to_lane"]) == ("WP01", "in_progress", "done")
    assert (pulled["actor"], pulled["reason"]) == (PULL_ACTOR, PULL_REASON)
    assert result.pushed == 1
    assert stored(saas)[-1] == pulled["event_id"]
    assert reduce(MISSION, rows)["work_packages"]["WP01"]["lane"] == "done"

    again = sync_with(saas, queue, repo)
    assert (again.pushed, again.pulled) == (0, 0)
    assert saas.syncs[-1] == pulled_with(saas, last_seq)  # and no push: the pulled lane is the
    assert saas.issues(MISSION)["WP01"]["lane"] == "done"  # synced base, not a local move


def test_a_lane_the_client_pushes_is_never_echoed_back_as_a_remote_change(saas: LoopbackSaas, repo: Path,
                                                                          queue: EventQueue) -> None:
    """Origin matters: only changes made on the server side come back; the client's own never do."""
    append_transition(log_of(repo).parent, "WP01", "in_progress", actor="me", reason=None)
    assert sync_with(saas, queue, repo).pulled == 0
    SyncHistory(queue).set_cursor(key_of(saas), None)  # ask for everything from the start
    assert sync_with(saas, queue, repo).pulled == 0
    assert [r["to_lane"] for r in read_log(log_of(repo)).rows] == ["in_progress"]


def test_without_a_sync_history_an_older_tracker_change_never_overwrites_a_newer_local_move(
        saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    """Issue 16 item 4: the queue starts empty (moved aside, or a new spelling of the host) while the tracker
    holds a change made before the log's last move of that work package: the log's lane stays, the
    conflict is recorded, and the local lane is pushed."""
    remote_change(saas, "WP01", "approved")  # made on the tracker first...
    append_transition(log_of(repo).parent, "WP01", "claimed", actor="me", reason=None)
    done = append_transition(log_of(repo).parent, "WP01", "in_progress", actor="me", reason=None)  # ...then here
    result = sync_with(saas, queue, repo)
    assert result.pulled == 0
    assert [(c["wp_id"], c["local_lane"], c["remote_lane"]) for c in result.conflicts] == [
        ("WP01", "in_progress", "approved")]
    assert read_log(log_of(repo)).rows[-1]["event_id"] == done["event_id"]
    later = remote_change(saas, "WP01", "done")  # a change made after the local move is news: it applies
    assert later
    assert sync_with(saas, queue, repo).pulled == 1
    assert read_log(log_of(repo)).rows[-1]["to_lane"] == "done"


def test_a_crash_before_the_cursor_is_stored_applies_nothing_twice(saas: LoopbackSaas, repo: Path,
                                                                   queue: EventQueue) -> None:
    append_transition(log_of(repo).parent, "WP01", "in_progress", actor="me", reason=None)
    assert sync_with(saas, queue, repo).pulled == 0
    remote_change(saas, "WP01", "done")
    assert sync_with(saas, queue, repo).pulled == 1
    SyncHistory(queue).set_cursor(key_of(saas), None)  # as if the process died after appending, before storing
    assert sync_with(saas, queue, repo).pulled == 0
    assert [r["to_lane"] for r in read_log(log_of(repo)).rows] == ["in_progress", "done"]


def test_run_sync_opens_its_own_queue_and_loop(saas: LoopbackSaas, repo: Path, tmp_path: Path) -> None:
    write_lines(repo, fixture_lines(3))
    queue_path = tmp_path / "elsewhere" / "q.sqlite3"
    result = run_sync(target_for(saas, repo), queue_path=queue_path)
    assert (result.pushed, result.queued) == (3, 0)
    with EventQueue(queue_path) as queue:
        last = SyncHistory(queue).last_result(key_of(saas))
    assert last is not None
    assert last["pushed"] == 3
    assert last["error"] is None


def test_external_authoritative_applies_the_trackers_lane_as_a_forced_row_and_records_it(
        saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    folder = log_of(repo).parent
    append_transition(folder, "WP01", "claimed", actor="me", reason=None)
    sync_with(saas, queue, repo, mode="external_authoritative")
    append_transition(folder, "WP01", "in_progress", actor="me", reason=None)  # moved here...
    remote_change(saas, "WP01", "blocked")  # ...and on the tracker
    result = sync_with(saas, queue, repo, mode="external_authoritative")
    assert result.conflicts == [{"wp_id": "WP01", "local_lane": "in_progress", "remote_lane": "blocked",
                                 "kept": "remote"}]
    last = read_log(log_of(repo)).rows[-1]
    assert (last["to_lane"], last["force"], last["actor"]) == ("blocked", True, PULL_ACTOR)
    assert "external_authoritative" in last["reason"]
    assert TrackerLedger(queue).conflicts(key_of(saas))[-1]["kept"] == "remote"
    assert saas.issues(MISSION)["WP01"]["lane"] == "blocked"  # the local move was not pushed over it


def test_spec_kitty_authoritative_keeps_the_local_lane_and_records_the_conflict(
        saas: LoopbackSaas, repo: Path, queue: EventQueue) -> None:
    folder = log_of(repo).parent
    append_transition(folder, "WP01", "claimed", actor="me", reason=None)
    sync_with(saas, queue, repo)
    append_transition(folder, "WP01", "in_progress", actor="me", reason=None)
    remote_change(saas, "WP01", "blocked")
    result = sync_with(saas, queue, repo)
    assert result.conflicts == [{"wp_id": "WP01", "local_lane": "in_progress", "remote_lane": "blocked",
                                 "kept": "local"}]
    assert read_log(log_of(repo)).rows[-1]["to_lane"] == "in_progress"
    assert saas.issues(MISSION)["WP01"]["lane"] == "in_progress"


def test_the_target_never_shows_its_token() -> None:
    target = SyncTarget("https://saas.example", TOKEN, PROJECT, MISSION, Path("/r"), None, CONTEXT)
    assert TOKEN not in repr(target)
    assert TOKEN not in str(target)
    assert target.key == MissionRef.at("https://saas.example", PROJECT, MISSION).key


def test_local_modules_do_not_import_the_network_stack() -> None:
    """``wp move`` and ``tracker status`` import the queue; a sync imports the engine before it decides to
    talk to a host. Neither may drag in aiohttp (the client module is imported only inside ``run_sync``)."""
    code = ("import sys, orchestrator.sync.queue, orchestrator.sync.run, orchestrator.saas.probe; "
            "print(sorted(m for m in ('aiohttp', 'orchestrator.saas.client', 'asyncio', 'ssl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- against the real dev SaaS --------------------------------------------------------------------------
def test_run_sync_against_the_dev_saas(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devsaas.testing import start_dev_saas

    monkeypatch.setenv("SPEC_KITTY_HOME", str(tmp_path / "home"))
    lines = fixture_lines(1234)
    write_lines(repo, lines)
    append_transition(log_of(repo).parent, "WP01", "in_progress", actor="me", reason=None)
    queue_path = tmp_path / "q.sqlite3"
    with start_dev_saas(db=tmp_path / "saas.sqlite3") as saas:
        token = saas.issue_token("dev")
        confirmed = run_with_client(saas.url, token, lambda client: client.bind_confirm(
            "dev-team", "github", "ct_" + b"dev-saas/issues".hex(), {"uuid": PROJECT, "slug": "proj"}))
        binding = Binding("github", confirmed["binding_ref"], "proj", "dev-saas/issues")
        target = SyncTarget(saas.url, token, PROJECT, MISSION, repo, log_of(repo).parent, CONTEXT._replace(
            team_slug=""), binding)  # the teams come from /api/v1/me, as for an env token
        first = run_sync(target, queue_path=queue_path)
        assert (first.pushed, first.pulled, first.queued) == (1235, 0, 0)
        stored = saas.envelopes(project_uuid=PROJECT)
        assert [e["causation_id"] for e in stored] == [json.loads(line)["event_id"]
                                                       for line in log_of(repo).read_text().splitlines()]
        assert {e["team_slug"] for e in stored} == {"dev-private"}

        saas.set_issue_lane(PROJECT, MISSION, "WP01", "approved")
        second = run_sync(target, queue_path=queue_path)
        assert (second.pushed, second.pulled, second.queued) == (1, 1, 0)
        assert read_log(log_of(repo)).rows[-1]["to_lane"] == "approved"
        assert saas.issues(PROJECT, MISSION)["WP01"]["lane"] == "approved"

        third = run_sync(target, queue_path=queue_path)
        assert (third.pushed, third.pulled, third.queued) == (0, 0, 0)
        with EventQueue(queue_path) as queue:
            last = SyncHistory(queue).last_result(target.key)
            assert last is not None
            assert last["error"] is None
            assert last["cursor"] == third.cursor
        assert len({e["event_id"] for e in saas.envelopes(project_uuid=PROJECT)}) == 1236
