"""The SaaS client against tiny in-test HTTP servers on loopback: retries, 429, 5xx, redirects, 401,
unreachable hosts, the gzip upload body, typed device-flow answers, and a token that never leaks.
Also the stdlib reachability probe."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from orchestrator.errors import CatalogFailure
from orchestrator.saas.client import SaasClient
from orchestrator.saas.errors import HostUnreachable, RequestFailed, ServerFailed, SessionExpired
from orchestrator.saas.probe import host_answers
from states.catalog import (
    HOST_REFUSED,
    SERVER_ERROR,
    SESSION_EXPIRED,
    TRACKER_HINT_REBIND,
    TRACKER_REFUSED,
)

TOKEN = "skd_SECRET-token-value-0123456789"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Recorder:
    """What the server saw: one entry per request (method, path, headers, decoded body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def note(self, request: web.Request) -> bytes:
        body = await request.read()
        self.requests.append({"method": request.method, "path": request.path, "headers": dict(request.headers),
                              "body": body, "at": time.monotonic()})
        return body


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    """A real HTTP server on 127.0.0.1 (free port) answering every path with ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def scripted(recorder: Recorder, answers: list[Callable[[], web.StreamResponse]]) -> Handler:
    """Answer the n-th request with ``answers[n]`` (the last one repeats)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await recorder.note(request)
        return answers[min(len(recorder.requests), len(answers)) - 1]()

    return handler


def ok(body: dict[str, Any] | None = None, status: int = 200) -> Callable[[], web.StreamResponse]:
    return lambda: web.json_response(body or {"login": "dev"}, status=status)


def error(status: int, code: str, detail: str | None = None, **headers: str) -> Callable[[], web.StreamResponse]:
    return lambda: web.json_response({"error": code, "detail": detail or code}, status=status, headers=headers)


def client(url: str, token: str | None = TOKEN, **options: Any) -> SaasClient:
    options = {"retries": 3, "backoff": 0.001, "max_backoff": 0.01, "timeout": 5.0, **options}
    return SaasClient(url, token, **options)


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text)
        assert TOKEN not in repr(text)


# --- retries ----------------------------------------------------------------------------------------
def test_5xx_is_retried_until_the_host_recovers() -> None:
    recorder = Recorder()

    async def main() -> dict[str, Any]:
        handler = scripted(recorder, [error(503, "internal"), error(502, "bad_gateway"), ok()])
        async with serving(handler) as url, client(url) as saas:
            return await saas.me()

    assert asyncio.run(main()) == {"login": "dev"}
    assert [r["path"] for r in recorder.requests] == ["/api/v1/me"] * 3
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in recorder.requests)


def test_5xx_that_persists_is_the_catalog_server_error_after_the_retries() -> None:
    recorder = Recorder()

    async def main() -> None:
        async with serving(scripted(recorder, [error(500, "internal", "database is locked")])) as url, \
                client(url, retries=2) as saas:
            await saas.me()

    with pytest.raises(ServerFailed) as caught:
        asyncio.run(main())
    url = caught.value.failure.message.split("`")[1]
    assert isinstance(caught.value, CatalogFailure)
    assert caught.value.failure.message == SERVER_ERROR.message.format(
        url=url, detail="HTTP 500 internal (database is locked)")
    assert caught.value.failure.next_action == SERVER_ERROR.next_action
    assert len(recorder.requests) == 3


def test_429_waits_as_long_as_retry_after_says() -> None:
    recorder = Recorder()

    async def main() -> dict[str, Any]:
        handler = scripted(recorder, [error(429, "rate_limited", **{"Retry-After": "0.3"}), ok()])
        async with serving(handler) as url, client(url, backoff=0.0, max_backoff=0.0) as saas:
            return await saas.me()

    assert asyncio.run(main()) == {"login": "dev"}
    first, second = recorder.requests
    assert second["at"] - first["at"] >= 0.25  # backoff is zero here: only Retry-After explains the pause


def test_retry_after_within_the_deadline_is_capped() -> None:
    recorder = Recorder()

    async def main() -> dict[str, Any]:
        handler = scripted(recorder, [error(429, "rate_limited", **{"Retry-After": "3"}), ok()])
        async with serving(handler) as url, client(url, max_retry_after=0.05) as saas:
            return await asyncio.wait_for(saas.me(), timeout=10)  # an uncapped wait would be 3 s

    assert asyncio.run(main()) == {"login": "dev"}
    assert len(recorder.requests) == 2


def test_retry_after_past_the_deadline_ends_the_call_saying_when() -> None:
    """Issue 10: `Retry-After: 3600` used to mean 90 silent seconds; now one message, at once."""
    from orchestrator.saas.errors import RetryLater

    recorder = Recorder()

    async def main() -> None:
        handler = scripted(recorder, [error(429, "rate_limited", **{"Retry-After": "3600"}), ok()])
        async with serving(handler) as url, client(url, max_retry_after=0.05) as saas:
            await asyncio.wait_for(saas.me(), timeout=10)

    with pytest.raises(RetryLater) as caught:
        asyncio.run(main())
    assert "asked to wait 3600 seconds, past this command's deadline" in caught.value.failure.message
    assert caught.value.failure.next_action.startswith("Retry after ")
    assert len(recorder.requests) == 1


def test_device_code_is_not_repeated_after_a_5xx_but_is_after_a_429() -> None:
    """A new device code per attempt would be a new login request: only a refused (429) one is retried."""
    recorder, refused = Recorder(), Recorder()

    async def main() -> dict[str, Any]:
        async with serving(scripted(recorder, [error(503, "internal"), ok({"device_code": "d"})])) as url, \
                client(url, token=None) as saas:
            with pytest.raises(ServerFailed):
                await saas.device_code()
        async with serving(scripted(refused, [error(429, "rate_limited"), ok({"device_code": "d"})])) as url, \
                client(url, token=None) as saas:
            return await saas.device_code()

    assert asyncio.run(main()) == {"device_code": "d"}
    assert len(recorder.requests) == 1
    assert len(refused.requests) == 2
    assert parse_qs(refused.requests[0]["body"].decode()) == {"client_id": ["cli_native"], "scope": ["offline_access"]}
    assert refused.requests[0]["path"] == "/oauth/device"
    assert refused.requests[0]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in refused.requests[0]["headers"]


def test_a_dropped_connection_is_retried() -> None:
    recorder = Recorder()

    async def handler(request: web.Request) -> web.StreamResponse:
        await recorder.note(request)
        if len(recorder.requests) == 1:
            assert request.transport is not None
            request.transport.close()  # the server dies mid-answer
        return web.json_response({"login": "dev"})

    async def main() -> dict[str, Any]:
        async with serving(handler) as url, client(url) as saas:
            return await saas.me()

    assert asyncio.run(main()) == {"login": "dev"}
    assert len(recorder.requests) == 2


# --- failures the operator sees -------------------------------------------------------------------------
def test_nobody_listening_after_retries_is_the_catalog_refused_line_with_the_url() -> None:
    """Issue 19: a refused connection says "refused", never "stopped responding" (nor "within 2 seconds")."""
    url = f"http://127.0.0.1:{free_port()}"

    async def main() -> None:
        async with client(url + "/") as saas:
            await saas.me()

    with pytest.raises(HostUnreachable) as caught:
        asyncio.run(main())
    assert caught.value.failure.render() == HOST_REFUSED.render().format(url=url)
    assert str(caught.value) == HOST_REFUSED.message.format(url=url)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert_no_token(caught.value)


def test_a_host_that_never_answers_times_out_as_unreachable() -> None:
    recorder = Recorder()

    async def handler(request: web.Request) -> web.StreamResponse:
        await recorder.note(request)
        await asyncio.Event().wait()  # never answers; the server's cleanup cancels this
        return web.json_response({})

    async def main() -> None:
        async with serving(handler) as url, client(url, timeout=0.2, retries=1) as saas:
            await saas.me()

    with pytest.raises(HostUnreachable):
        asyncio.run(main())
    assert len(recorder.requests) == 2


def test_401_is_the_catalog_session_expired_and_is_not_retried() -> None:
    recorder = Recorder()

    async def main() -> None:
        async with serving(scripted(recorder, [error(401, "unauthorized")])) as url, client(url) as saas:
            await saas.send_events(['{"event_id": "01A"}'])

    with pytest.raises(SessionExpired) as caught:
        asyncio.run(main())
    assert caught.value.failure == SESSION_EXPIRED
    assert caught.value.status == 401
    assert len(recorder.requests) == 1
    assert_no_token(caught.value)


def test_a_redirect_is_refused_and_the_token_never_reaches_the_other_host() -> None:
    recorder, elsewhere = Recorder(), Recorder()

    async def main() -> None:
        async with serving(scripted(elsewhere, [ok()])) as other:
            def moved() -> web.StreamResponse:
                return web.Response(status=307, headers={"Location": f"{other}/api/v1/me"})

            async with serving(scripted(recorder, [moved])) as url, client(url) as saas:
                await saas.me()

    with pytest.raises(RequestFailed) as caught:
        asyncio.run(main())
    assert "redirect (HTTP 307)" in str(caught.value)
    assert caught.value.status == 307
    assert len(recorder.requests) == 1
    assert elsewhere.requests == []
    assert_no_token(caught.value)


def test_a_tracker_error_envelope_is_one_catalog_line() -> None:
    envelope = {"error_code": "binding_not_found", "error_category": "binding_not_found",
                "message": "no such tracker binding", "retryable": False, "user_action_required": True}

    async def main() -> None:
        answer = lambda: web.json_response(envelope, status=404)  # noqa: E731
        async with serving(scripted(Recorder(), [answer])) as url, client(url) as saas:
            await saas.tracker_status("dev-team", "github", {"binding_ref": "br_1"})

    with pytest.raises(RequestFailed) as caught:
        asyncio.run(main())
    url = str(caught.value).split("`")[1]
    assert str(caught.value) == TRACKER_REFUSED.format(url=url, message="no such tracker binding",
                                                       code="binding_not_found", hint=TRACKER_HINT_REBIND)
    assert (caught.value.status, caught.value.code) == (404, "binding_not_found")


def test_tracker_writes_carry_the_team_and_one_idempotency_key_across_retries() -> None:
    recorder = Recorder()
    confirmed = {"binding_ref": "br_1", "display_label": "x", "provider": "github", "bound_at": "t"}

    async def main() -> dict[str, Any]:
        answers = [error(503, "busy"), ok(confirmed)]
        async with serving(scripted(recorder, answers)) as url, client(url) as saas:
            return await saas.bind_confirm("dev-team", "github", "ct_1", {"uuid": "u"})

    assert asyncio.run(main()) == confirmed
    first, second = recorder.requests
    assert (first["path"], first["headers"]["X-Team-Slug"]) == ("/api/v1/tracker/bind-confirm/", "dev-team")
    assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"]
    assert json.loads(second["body"]) == {"provider": "github", "candidate_token": "ct_1",
                                          "project_identity": {"uuid": "u"}}


def test_a_202_is_polled_at_its_operation_until_it_completes() -> None:
    recorder = Recorder()
    result = {"status": "complete", "summary": {"total": 1, "succeeded": 1, "failed": 0, "skipped": 0}}
    answers = [ok({"operation_id": "op_1", "status": "pending"}, 202),
               ok({"operation_id": "op_1", "status": "running"}),
               ok({"operation_id": "op_1", "status": "completed", "result": result})]

    async def main() -> dict[str, Any]:
        async with serving(scripted(recorder, answers)) as url, client(url) as saas:
            return await saas.tracker_run("dev-team", "github", {"binding_ref": "br_1"})

    assert asyncio.run(main()) == result
    assert [(r["method"], r["path"]) for r in recorder.requests] == [
        ("POST", "/api/v1/tracker/run/"), ("GET", "/api/v1/tracker/operations/op_1/"),
        ("GET", "/api/v1/tracker/operations/op_1/")]
    assert json.loads(recorder.requests[0]["body"]) == {"provider": "github", "binding_ref": "br_1",
                                                        "pull_first": True, "limit": 100}
    assert "Idempotency-Key" not in recorder.requests[1]["headers"]


def test_an_operation_past_the_deadline_is_one_line() -> None:
    answers = [ok({"operation_id": "op_9", "status": "pending"}, 202),
               ok({"operation_id": "op_9", "status": "running"})]

    async def main() -> None:
        async with serving(scripted(Recorder(), answers)) as url, client(url, deadline=0.2) as saas:
            await saas.tracker_push("dev-team", "github", {"binding_ref": "br_1"}, [])

    with pytest.raises(CatalogFailure) as caught:
        asyncio.run(main())
    assert "did not finish within 0.2s" in str(caught.value.failure.message)


def test_repr_shows_the_host_only() -> None:
    assert repr(SaasClient("https://saas.example/", TOKEN)) == "SaasClient('https://saas.example')"


# --- the probe ------------------------------------------------------------------------------------------
def test_probe_says_yes_when_something_listens() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert host_answers(f"http://127.0.0.1:{listener.getsockname()[1]}/api", timeout=2.0)


@pytest.mark.parametrize("url", ["", "not a url", "ftp://127.0.0.1", "http://127.0.0.1:99999", "http://:80"])
def test_probe_says_no_for_what_cannot_be_reached(url: str) -> None:
    assert host_answers(url, timeout=0.5) is False


def test_probe_says_no_when_nobody_listens() -> None:
    assert host_answers(f"http://127.0.0.1:{free_port()}", timeout=0.5) is False
