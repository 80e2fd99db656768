"""The one-shot sync engine: given a mission log, a queue and a SaaS (a small fake on loopback here, the
real dev SaaS in the last test), when ``sync_once`` runs, then every row arrives verbatim exactly once,
lanes go both ways, and a failure at any point loses nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from orchestrator import sync as sync_module
from orchestrator.client import HostUnreachable, SaasClient, ServerFailed
from orchestrator.missions import append_transition, read_log, reduce
from orchestrator.queue import EventQueue, mission_key
from orchestrator.sync import PULL_ACTOR, PULL_REASON, SyncError, SyncResult, SyncTarget, run_sync, sync_once
from orchestrator.ulid import new_ulid

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "missions"
MISSION = "001-demo"
PROJECT = "proj"
TOKEN = "skd_sync-test-token-never-printed"


class FakeSaas:
    """Just enough of docs/api.md: event upload (dedup by id, raw bodies kept) and tracker sync."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.stored: dict[str, str] = {}  # event_id -> the row as received
        self.sent: Counter[str] = Counter()
        self.syncs: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        self.cursor = 0
        self.fail_uploads_after: int | None = None  # answer 500 from this upload on
        self.lose_answers = 0  # store this many uploads, then drop the connection instead of answering
        self.never_ack: set[str] = set()
        self.url = ""

    async def events(self, request: web.Request) -> web.Response:
        text = (await request.read()).decode("utf-8")
        if self.fail_uploads_after is not None and len(self.bodies) >= self.fail_uploads_after:
            return web.json_response({"error": "internal", "detail": "internal"}, status=500)
        self.bodies.append(text)
        rows = json.loads(text)["events"]
        raw = _split_rows(text)
        for row, row_text in zip(rows, raw, strict=True):
            self.sent[row["event_id"]] += 1
            self.stored.setdefault(row["event_id"], row_text)
        acked = [r["event_id"] for r in rows if r["event_id"] not in self.never_ack]
        if self.lose_answers:
            self.lose_answers -= 1
            assert request.transport is not None
            request.transport.close()  # stored, but the client never hears about it
        return web.json_response({"acked": list(dict.fromkeys(acked)), "stored": 0, "duplicates": 0})

    async def tracker(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.syncs.append(body)
        newer = [c for c in self.changes if c["seq"] > (body.get("cursor") or 0)]
        return web.json_response({"cursor": self.cursor, "pushed": 0, "changes": newer})

    def remote_change(self, wp_id: str, lane: str) -> None:
        self.cursor += 1
        self.changes.append({"wp_id": wp_id, "lane": lane, "changed_at": "2026-06-03T06:45:29Z", "seq": self.cursor})

    def serve(self) -> Iterator[FakeSaas]:
        """Run on loopback in a thread of its own for the whole test: one stable URL (the queue keys
        missions by host), and ``run_sync`` can own the test's event loop."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        base = "/api/v1/projects/{project}/missions/{mission}"
        app.router.add_post(base + "/events", self.events)
        app.router.add_post(base + "/tracker/sync", self.tracker)
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app)

        async def start() -> None:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()

        loop.run_until_complete(start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


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
    base = [json.loads(line) for f in sorted(FIXTURES.glob("*/status.events.jsonl"))
            for line in f.read_text().splitlines() if line.strip()]
    return [json.dumps(dict(base[i % len(base)], event_id=new_ulid(), mission_slug=MISSION), sort_keys=True)
            for i in range(n)]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "kitty-specs" / MISSION).mkdir(parents=True)
    return root


def log_of(repo: Path) -> Path:
    return repo / "kitty-specs" / MISSION / "status.events.jsonl"


def write_lines(repo: Path, lines: list[str]) -> None:
    with log_of(repo).open("a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))


def target_for(url: str, repo: Path, *, with_folder: bool = True) -> SyncTarget:
    return SyncTarget(server_url=url, token=TOKEN, project=PROJECT, mission=MISSION, repo_root=repo,
                      mission_dir=log_of(repo).parent if with_folder else None)


def sync_with(saas: FakeSaas, queue: EventQueue, repo: Path, *, with_folder: bool = True,
              **options: Any) -> SyncResult:
    """One ``sync_once`` with a client that does not retry (failures show at once)."""
    async def main() -> SyncResult:
        async with SaasClient(saas.url, TOKEN, retries=0) as client:
            return await sync_once(client, queue, target_for(saas.url, repo, with_folder=with_folder), **options)

    return asyncio.run(main())


def key_of(saas: FakeSaas) -> str:
    return mission_key(saas.url, PROJECT, MISSION)


@pytest.fixture
def saas() -> Iterator[FakeSaas]:
    yield from FakeSaas().serve()


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[EventQueue]:
    with EventQueue(tmp_path / "home" / "sync-queue.sqlite3") as opened:
        yield opened


# --- upload ---------------------------------------------------------------------------------------------
def test_every_log_row_arrives_verbatim_once_and_the_queue_empties(saas: FakeSaas, repo: Path,
                                                                    queue: EventQueue) -> None:
    lines = fixture_lines(1200)
    write_lines(repo, lines)
    result = sync_with(saas, queue, repo)
    assert (result.pushed, result.pulled, result.queued) == (1200, 0, 0)
    assert len(saas.bodies) == 3  # batches of 500
    assert [saas.stored[json.loads(line)["event_id"]] for line in lines] == lines  # byte for byte
    assert set(saas.sent.values()) == {1}
    again = sync_with(saas, queue, repo)
    assert (again.pushed, again.queued) == (0, 0)
    assert len(saas.bodies) == 3


def test_progress_is_reported_after_each_batch(saas: FakeSaas, repo: Path, queue: EventQueue) -> None:
    write_lines(repo, fixture_lines(35))
    seen: list[tuple[int, int]] = []
    sync_with(saas, queue, repo, batch_size=10, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(10, 35), (20, 35), (30, 35), (35, 35)]


def test_big_rows_are_split_into_requests_the_server_accepts(saas: FakeSaas, repo: Path, queue: EventQueue,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_module, "MAX_BATCH_BYTES", 2000)
    write_lines(repo, [json.dumps({"event_id": new_ulid(), "evidence": "x" * 900}) for _ in range(6)])
    assert sync_with(saas, queue, repo).pushed == 6
    assert [len(_split_rows(body)) for body in saas.bodies] == [2, 2, 2]


def test_a_failure_mid_drain_keeps_the_rest_and_the_next_run_finishes(saas: FakeSaas, repo: Path,
                                                                      queue: EventQueue) -> None:
    lines = fixture_lines(50)
    write_lines(repo, lines)
    saas.fail_uploads_after = 2
    with pytest.raises(ServerFailed):
        sync_with(saas, queue, repo, batch_size=10)
    assert queue.count(key_of(saas)) == 30
    last = queue.last_result(key_of(saas))
    assert last is not None and (last["pushed"], last["queued"]) == (20, 30) and "HTTP 500" in last["error"]
    saas.fail_uploads_after = None
    result = sync_with(saas, queue, repo, batch_size=10)
    assert (result.pushed, result.queued) == (30, 0)
    assert set(saas.sent) == {json.loads(line)["event_id"] for line in lines}
    assert set(saas.sent.values()) == {1}


def test_an_answer_lost_after_the_server_stored_the_batch_only_means_a_re_send(saas: FakeSaas, repo: Path,
                                                                                queue: EventQueue) -> None:
    """The server stored a batch but the client never heard back, so it never acked: the next run sends
    it again and the server's dedup by event id keeps one copy."""
    write_lines(repo, fixture_lines(30))
    saas.lose_answers = 1
    with pytest.raises(HostUnreachable):
        sync_with(saas, queue, repo, batch_size=10)
    assert queue.count(key_of(saas)) == 30 and len(saas.stored) == 10
    result = sync_with(saas, queue, repo, batch_size=10)
    assert (result.pushed, result.queued) == (30, 0)
    assert len(saas.stored) == 30
    assert sorted(Counter(saas.sent.values()).items()) == [(1, 20), (2, 10)]


def test_only_acknowledged_rows_leave_the_queue(saas: FakeSaas, repo: Path, queue: EventQueue) -> None:
    lines = fixture_lines(25)
    write_lines(repo, lines)
    stuck = json.loads(lines[3])["event_id"]
    saas.never_ack = {stuck}
    with pytest.raises(SyncError, match="acknowledged none of the 1 events"):
        sync_with(saas, queue, repo, batch_size=10)
    assert queue.pending(key_of(saas), 10) == [(stuck, lines[3])]


def test_without_a_mission_folder_nothing_is_applied_and_the_cursor_waits(saas: FakeSaas, repo: Path,
                                                                          queue: EventQueue) -> None:
    saas.remote_change("WP01", "done")
    result = sync_with(saas, queue, repo, with_folder=False)
    assert (result.pushed, result.pulled, result.cursor) == (0, 0, None)
    assert saas.syncs == [{"cursor": None, "lanes": {}}]
    assert not log_of(repo).exists()


# --- tracker --------------------------------------------------------------------------------------------
def test_local_lanes_are_pushed_with_the_event_that_set_them(saas: FakeSaas, repo: Path,
                                                             queue: EventQueue) -> None:
    folder = log_of(repo).parent
    append_transition(folder, "WP01", "claimed", actor="me", reason=None)
    last = append_transition(folder, "WP01", "in_progress", actor="me", reason=None)
    other = append_transition(folder, "WP02", "for_review", actor="me", reason=None)
    write_lines(repo, [json.dumps({"event_id": new_ulid(), "wp_id": "WP03", "to_lane": "genesis"}),
                       json.dumps({"event_id": new_ulid(), "kind": "annotation", "wp_id": "WP01"})])
    result = sync_with(saas, queue, repo)
    assert result.pushed == 5
    # issue 10: pull first (pushing nothing, so a conflict cannot be hidden), then push what moved here
    assert saas.syncs == [{"cursor": None, "lanes": {}}, {"cursor": 0, "lanes": {
        "WP01": {"lane": "in_progress", "last_event_id": last["event_id"]},
        "WP02": {"lane": "for_review", "last_event_id": other["event_id"]},
    }}]  # WP03's lane is not one the server knows, so it is not pushed (it would refuse the whole sync)


def test_remote_changes_are_appended_once_and_uploaded_in_the_same_run(saas: FakeSaas, repo: Path,
                                                                       queue: EventQueue) -> None:
    folder = log_of(repo).parent
    append_transition(folder, "WP01", "in_progress", actor="me", reason=None)
    append_transition(folder, "WP02", "planned", actor="me", reason=None)
    saas.remote_change("WP01", "done")
    saas.remote_change("WP02", "planned")  # already the local lane: nothing to append
    saas.remote_change("ISSUE-7", "done")  # not a spec-kitty work package
    result = sync_with(saas, queue, repo)
    assert (result.pulled, result.cursor, result.queued) == (1, 3, 0)
    rows = read_log(log_of(repo)).rows
    pulled = rows[-1]
    assert (pulled["wp_id"], pulled["from_lane"], pulled["to_lane"]) == ("WP01", "in_progress", "done")
    assert (pulled["actor"], pulled["reason"]) == (PULL_ACTOR, PULL_REASON)
    assert result.pushed == 3 and pulled["event_id"] in saas.stored
    assert reduce(MISSION, rows)["work_packages"]["WP01"]["lane"] == "done"

    again = sync_with(saas, queue, repo)
    assert (again.pushed, again.pulled) == (0, 0)
    assert saas.syncs[-1]["cursor"] == 3
    assert "WP01" not in saas.syncs[-1]["lanes"]  # issue 10: the pulled lane is the synced base, not a local move


def test_a_crash_before_the_cursor_is_stored_applies_nothing_twice(saas: FakeSaas, repo: Path,
                                                                   queue: EventQueue) -> None:
    append_transition(log_of(repo).parent, "WP01", "in_progress", actor="me", reason=None)
    saas.remote_change("WP01", "done")
    assert sync_with(saas, queue, repo).pulled == 1
    queue.set_cursor(key_of(saas), None)  # as if the process died after appending, before storing
    assert sync_with(saas, queue, repo).pulled == 0
    assert [r["to_lane"] for r in read_log(log_of(repo)).rows] == ["in_progress", "done"]


def test_run_sync_opens_its_own_queue_and_loop(saas: FakeSaas, repo: Path, tmp_path: Path) -> None:
    write_lines(repo, fixture_lines(3))
    queue_path = tmp_path / "elsewhere" / "q.sqlite3"
    result = run_sync(target_for(saas.url, repo), queue_path=queue_path)
    assert (result.pushed, result.queued) == (3, 0)
    with EventQueue(queue_path) as queue:
        last = queue.last_result(key_of(saas))
    assert last is not None and last["pushed"] == 3 and last["error"] is None


def test_the_target_never_shows_its_token() -> None:
    target = SyncTarget("https://saas.example", TOKEN, PROJECT, MISSION, Path("/r"), None)
    assert TOKEN not in repr(target) and TOKEN not in str(target)
    assert target.key == mission_key("https://saas.example", PROJECT, MISSION)


def test_local_modules_do_not_import_the_network_stack() -> None:
    """``wp move`` and ``tracker status`` import the queue; a sync imports the engine before it decides to
    talk to a host. Neither may drag in aiohttp (the client module is imported only inside ``run_sync``)."""
    code = ("import sys, orchestrator.queue, orchestrator.sync, orchestrator.probe; "
            "print(sorted(m for m in ('aiohttp', 'orchestrator.client', 'asyncio', 'ssl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- against the real dev SaaS --------------------------------------------------------------------------
def test_run_sync_against_the_dev_saas(repo: Path, tmp_path: Path) -> None:
    from orchestrator.devsaas.testing import start_dev_saas

    lines = fixture_lines(1234)
    write_lines(repo, lines)
    append_transition(log_of(repo).parent, "WP01", "in_progress", actor="me", reason=None)
    queue_path = tmp_path / "q.sqlite3"
    with start_dev_saas(db=tmp_path / "saas.sqlite3") as saas:
        token = saas.issue_token("dev")

        async def bind() -> None:
            async with SaasClient(saas.url, token) as client:
                await client.put_binding(PROJECT, MISSION, {"repo_name": "repo"})

        asyncio.run(bind())
        target = SyncTarget(saas.url, token, PROJECT, MISSION, repo, log_of(repo).parent)
        first = run_sync(target, queue_path=queue_path)
        assert (first.pushed, first.pulled, first.queued) == (1235, 0, 0)
        stored = saas.events(PROJECT, MISSION)
        assert [json.dumps(e, sort_keys=True) for e in stored] == log_of(repo).read_text().splitlines()

        saas.set_issue_lane(PROJECT, MISSION, "WP01", "approved")
        second = run_sync(target, queue_path=queue_path)
        assert (second.pushed, second.pulled, second.queued) == (1, 1, 0)
        assert read_log(log_of(repo)).rows[-1]["to_lane"] == "approved"
        assert saas.issues(PROJECT, MISSION)["WP01"]["lane"] == "approved"

        third = run_sync(target, queue_path=queue_path)
        assert (third.pushed, third.pulled, third.queued) == (0, 0, 0)
        with EventQueue(queue_path) as queue:
            last = queue.last_result(target.key)
            assert last is not None and last["error"] is None and last["cursor"] == third.cursor
        assert len({e["event_id"] for e in saas.events(PROJECT, MISSION)}) == 1236
