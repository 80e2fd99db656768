"""Issue 10, "always end, quickly, with one line": faults the real dev SaaS cannot produce (a host that
accepts and never answers, Retry-After: 3600, a gzip bomb, a row refused alone, a proxy in the way),
served by a small scripted fake on loopback; the command is the installed `spec-kitty`. Deadlines come
from `SPEC_KITTY_SYNC_DEADLINE` so nothing waits ten real seconds."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from support.projects import write_auth, write_bindings
from support.shell import Shell

from orchestrator.missions.ulid import new_ulid

MISSION = "001-demo"
TOKEN = "skd_deadline-test-token-never-printed"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

pytestmark = pytest.mark.e2e


class Fake:
    """A scripted SaaS: `events` (the batch endpoint) and `tracker` are swappable handlers; every request is
    recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []  # method, path, the Host header
        self.stored: list[str] = []
        self.events: Handler = self.accept_events
        self.tracker: Handler = self.empty_tracker
        self.url = ""

    async def accept_events(self, request: web.Request) -> web.Response:
        envelopes = json.loads(await request.read())["events"]
        self.stored += [e["causation_id"] for e in envelopes]  # the log rows they carry
        return web.json_response({"results": [{"event_id": e["event_id"], "status": "success"} for e in envelopes]})

    async def empty_tracker(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"items": [], "next_cursor": "0", "has_more": False, "results": []})

    async def route(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, request.headers.get("Host", "")))
        if request.path == "/api/v1/events/batch/":
            return await self.events(request)
        if request.path in ("/api/v1/tracker/pull/", "/api/v1/tracker/push/"):
            return await self.tracker(request)
        return web.json_response({"error": "not_found"}, status=404)


@pytest.fixture
def fake() -> Iterator[Fake]:
    handle = Fake()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle.route)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()

    loop.run_until_complete(start())
    handle.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield handle
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture
def silent_host() -> Iterator[str]:
    """Accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


def given_bound_to(operator: Shell, repo: Path, url: str, *, deadline: str = "1") -> None:
    """What `auth login` + `tracker bind` leave behind, for a host that is a fake."""
    write_auth(operator.home, token=TOKEN, server_url=url)
    (operator.home / "config.toml").write_text(f'[sync]\nserver_url = "{url}"\n')
    write_bindings(repo)
    operator.env["SPEC_KITTY_SYNC_DEADLINE"] = deadline
    operator.env["SPEC_KITTY_SYNC_DISABLE"] = "1"


def write_rows(repo: Path, rows: list[dict[str, object]]) -> None:
    log = repo / "kitty-specs" / MISSION / "status.events.jsonl"
    log.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def test_a_host_that_never_answers_ends_sync_run_with_one_message(operator: Shell, repo: Path,
                                                                  silent_host: str) -> None:
    given_bound_to(operator, repo, silent_host)
    write_rows(repo, [{"event_id": new_ulid(), "wp_id": "WP01", "to_lane": "claimed", "at": "2026-01-01T00:00:00Z"}])
    ran = operator.run("sync", "run", cwd=repo, timeout=30)
    assert (ran.stdout, ran.exit_code) == (
        f"The SaaS host `{silent_host}` did not finish within 1 seconds; queued events are kept.\n\n"
        "Check your network connection and retry.\n", 1)
    assert TOKEN not in ran.stdout + ran.stderr


def test_retry_after_past_the_deadline_says_when_to_retry(operator: Shell, repo: Path, fake: Fake) -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.json_response({"error": "rate_limited"}, status=429, headers={"Retry-After": "3600"})

    fake.tracker = busy
    given_bound_to(operator, repo, fake.url, deadline="5")
    ran = operator.run("sync", "run", cwd=repo, timeout=30)
    assert ran.exit_code == 1, ran
    message, blank, action = ran.stdout.splitlines()
    assert message == (f"The SaaS host `{fake.url}` asked to wait 3600 seconds, past this command's deadline; "
                       "queued events are kept.")
    assert blank == ""
    assert re.fullmatch(r"Retry after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.", action)
    assert len([r for r in fake.requests if r[1] == "/api/v1/tracker/pull/"]) == 1


def test_a_gzip_bomb_is_refused_at_the_cap(operator: Shell, repo: Path, fake: Fake) -> None:
    bomb = gzip.compress(b"{" + b" " * (64 * 1024 * 1024) + b"}", compresslevel=9)

    async def explode(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    fake.tracker = explode
    given_bound_to(operator, repo, fake.url, deadline="10")
    ran = operator.run("sync", "run", cwd=repo, timeout=60)
    assert (ran.stderr, ran.exit_code) == (
        f"Error: The SaaS host `{fake.url}` sent an answer over 16777216 bytes; refused.\n", 1)


def test_a_row_the_host_refuses_alone_is_parked_and_the_rest_upload(operator: Shell, repo: Path,
                                                                    fake: Fake) -> None:
    rows = [{"event_id": new_ulid(), "wp_id": "WP01", "to_lane": "claimed", "at": "2026-01-01T00:00:00+00:00"}
            for _ in range(5)]

    async def picky(request: web.Request) -> web.Response:
        """Refuses a whole batch with a 400 that names no event when it holds the third row's envelope."""
        envelopes = json.loads(await request.read())["events"]
        if not envelopes:  # the protocol's answer to an empty batch (the client's probe before parking)
            return web.json_response({"error": "No events provided"}, status=400)
        for index, envelope in enumerate(envelopes):
            if envelope["causation_id"] == rows[2]["event_id"]:
                return web.json_response({"error": "invalid_event",
                                          "detail": f"row {index}: refused, Bearer {TOKEN}"}, status=400)
        fake.stored += [e["causation_id"] for e in envelopes]
        return web.json_response({"results": [{"event_id": e["event_id"], "status": "success"} for e in envelopes]})

    fake.events = picky
    given_bound_to(operator, repo, fake.url, deadline="10")
    write_rows(repo, rows)
    ran = operator.run("sync", "run", cwd=repo)
    assert ran.exit_code == 0, ran
    assert ran.stdout.splitlines() == [
        f"Synced mission `{MISSION}` with {fake.url}: 4 pushed, 0 pulled, 0 still queued.",
        "1 row(s) parked; see `spec-kitty sync status`."]
    assert fake.stored == [r["event_id"] for i, r in enumerate(rows) if i != 2]
    status = operator.run("sync", "status", cwd=repo)
    assert (f"    {rows[2]['event_id']}: refused by the SaaS host: HTTP 400 invalid_event "
            "(row 0: refused, Bearer [token])\n") in status.stdout
    assert TOKEN not in status.stdout
    again = operator.run("sync", "retry", "--all", cwd=repo)
    assert again.stdout == f"Re-queued: {rows[2]['event_id']}\n"


def test_requests_and_the_probe_go_through_http_proxy(operator: Shell, repo: Path, fake: Fake) -> None:
    nobody = socket.socket()
    nobody.bind(("127.0.0.1", 0))
    host = f"http://127.0.0.1:{nobody.getsockname()[1]}"  # nothing listens here: only the proxy answers
    nobody.close()
    given_bound_to(operator, repo, host, deadline="5")
    operator.env.update(HTTP_PROXY=fake.url, NO_PROXY="")
    write_rows(repo, [{"event_id": new_ulid(), "wp_id": "WP01", "to_lane": "claimed", "at": "2026-01-01T00:00:00Z"}])
    ran = operator.run("sync", "run", cwd=repo)
    assert ran.exit_code == 0, ran
    assert "1 pushed" in ran.stdout
    assert {h for _, _, h in fake.requests} == {host.removeprefix("http://")}
    operator.env["NO_PROXY"] = "127.0.0.1"
    bypassed = operator.run("sync", "run", cwd=repo)
    # issue 19: bypassing the proxy reaches the host itself, where nothing listens: refused, in its own words
    assert bypassed.exit_code == 1
    assert "refused the connection (nothing is listening there)" in bypassed.stdout


def test_tracker_sync_run_through_the_daemon_ends_on_a_silent_host(operator: Shell, repo: Path,
                                                                   silent_host: str) -> None:
    given_bound_to(operator, repo, silent_host)
    operator.env["SPEC_KITTY_SYNC_DISABLE"] = ""
    write_rows(repo, [{"event_id": new_ulid(), "wp_id": "WP01", "to_lane": "claimed", "at": "2026-01-01T00:00:00Z"}])
    try:
        ran = operator.run("tracker", "sync", "run", cwd=repo, timeout=30)
    finally:
        operator.run("sync", "daemon", "stop", cwd=repo, timeout=30)
    assert (ran.stdout, ran.exit_code) == (
        f"The SaaS host `{silent_host}` did not finish within 1 seconds; queued events are kept.\n\n"
        "Check your network connection and retry.\n", 1), ran


def test_two_syncs_pulling_the_same_change_at_once_append_it_once(operator: Shell, repo: Path,
                                                                  fake: Fake) -> None:
    """Both pulls get their answer only once both have asked: each saw the change before either applied it
    (the race the issue measured); the decision under the log's lock appends it once."""
    asked = 0
    both = asyncio.Event()

    async def together(request: web.Request) -> web.Response:
        nonlocal asked
        body = await request.json()
        if body.get("cursor") or request.path.endswith("/push/"):  # a later request of the same run: nothing new
            return web.json_response({"items": [], "next_cursor": "1", "has_more": False, "results": []})
        asked += 1
        if asked >= 2:
            both.set()
        await asyncio.wait_for(both.wait(), 20)
        change = {"ref": f"{MISSION}/WP01", "mission_slug": MISSION, "wp_id": "WP01", "status": "done",
                  "changed_at": "2026-01-01T00:00:00Z", "seq": 1}
        return web.json_response({"items": [change], "next_cursor": "1", "has_more": False})

    fake.tracker = together
    given_bound_to(operator, repo, fake.url, deadline="30")
    write_rows(repo, [{"event_id": new_ulid(), "wp_id": "WP01", "to_lane": "claimed", "at": "2026-01-01T00:00:00Z"}])
    procs = [operator.popen("sync", "run", cwd=repo) for _ in range(2)]
    outs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outs
    log = repo / "kitty-specs" / MISSION / "status.events.jsonl"
    assert [json.loads(line)["to_lane"] for line in log.read_text().splitlines()] == ["claimed", "done"]
