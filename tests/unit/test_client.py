"""The SaaS client against tiny in-test HTTP servers on loopback: retries, 429, 5xx, redirects, 401,
unreachable hosts, the gzip upload body, typed device-flow answers, and a token that never leaks.
Also the stdlib reachability probe."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from orchestrator.client import (
    DeviceAccessDenied,
    DeviceCodeExpired,
    DeviceFlowError,
    DevicePending,
    DeviceSlowDown,
    HostUnreachable,
    NotBoundRemote,
    ProtocolMismatch,
    RefreshReplayed,
    RequestFailed,
    SaasClient,
    ServerFailed,
    SessionExpired,
)
from orchestrator.errors import CatalogFailure, SpecKittyError
from orchestrator.probe import host_answers
from states.catalog import HOST_REFUSED, NOT_BOUND_REMOTE, SERVER_ERROR, SESSION_EXPIRED

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
    from orchestrator.client import RetryLater

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
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
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
                return web.Response(status=307, headers={"Location": f"{other}/api/v1/whoami"})

            async with serving(scripted(recorder, [moved])) as url, client(url) as saas:
                await saas.me()

    with pytest.raises(RequestFailed) as caught:
        asyncio.run(main())
    assert "redirect (HTTP 307)" in str(caught.value)
    assert caught.value.status == 307
    assert len(recorder.requests) == 1 and elsewhere.requests == []
    assert_no_token(caught.value)


def test_a_missing_remote_binding_is_the_catalog_not_bound_line() -> None:
    async def main() -> None:
        async with serving(scripted(Recorder(), [error(404, "not_bound")])) as url, client(url) as saas:
            await saas.tracker_sync("proj", "001-demo", None, {})

    with pytest.raises(NotBoundRemote) as caught:
        asyncio.run(main())
    message = caught.value.failure.message
    assert message == NOT_BOUND_REMOTE.message.format(url=message.split("`")[1], slug="001-demo")


def test_other_refusals_are_one_line_errors() -> None:
    async def main() -> None:
        refusal = error(400, "invalid_request", "row 3:\n  event_id must be a string")
        async with serving(scripted(Recorder(), [refusal])) as url, client(url) as saas:
            await saas.send_events(["{}"])

    with pytest.raises(RequestFailed) as caught:
        asyncio.run(main())
    assert isinstance(caught.value, SpecKittyError) and not isinstance(caught.value, CatalogFailure)
    assert "\n" not in str(caught.value)
    assert str(caught.value).endswith(
        "refused the request: HTTP 400 invalid_request (row 3: event_id must be a string).")
    assert (caught.value.status, caught.value.code) == (400, "invalid_request")


def test_a_400_that_names_events_is_their_rejection_not_the_batchs() -> None:
    details = {"error": "invalid envelopes", "details": [
        {"event_id": "01B", "error": "payload must be an object", "error_category": "schema_mismatch"}]}

    async def main() -> list[dict[str, Any]]:
        async with serving(scripted(Recorder(), [ok(details, status=400)])) as url, client(url) as saas:
            return await saas.send_events(['{"event_id": "01A"}', '{"event_id": "01B"}'])

    assert asyncio.run(main()) == [{"event_id": "01B", "status": "rejected", "error": "payload must be an object",
                                   "error_category": "schema_mismatch"}]


def test_a_412_is_the_protocol_mismatch_with_the_hosts_guidance() -> None:
    answer = {"error": "protocol_mismatch", "sync_protocol": {"upgrade_guidance": "Upgrade\nto 4.0."}}

    async def main() -> None:
        async with serving(scripted(Recorder(), [ok(answer, status=412)])) as url, client(url) as saas:
            await saas.send_events(['{"event_id": "01A"}'])

    with pytest.raises(ProtocolMismatch) as caught:
        asyncio.run(main())
    assert caught.value.failure.message.endswith("speaks another sync protocol: Upgrade to 4.0.")


def test_a_replayed_refresh_token_is_its_own_answer() -> None:
    async def main() -> None:
        async with serving(scripted(Recorder(), [error(409, "refresh_replay_benign_retry")])) as url, \
                client(url, token=None) as saas:
            await saas.refresh("skr_used")

    with pytest.raises(RefreshReplayed):
        asyncio.run(main())


def test_an_answer_that_is_not_json_is_an_error() -> None:
    async def main() -> None:
        async with serving(scripted(Recorder(), [lambda: web.Response(text="<html>hi</html>")])) as url, \
                client(url) as saas:
            await saas.me()

    with pytest.raises(RequestFailed, match="unexpected answer"):
        asyncio.run(main())


def test_the_token_never_appears_in_errors_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Even a server that echoes the Authorization header back in its error detail."""
    caplog.set_level(logging.DEBUG)

    async def echo(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "invalid_request", "detail": request.headers["Authorization"]},
                                 status=400)

    async def flaky(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "internal", "detail": request.headers["Authorization"]}, status=503)

    caught: list[BaseException] = []

    async def main() -> None:
        for handler in (echo, flaky):
            async with serving(handler) as url, client(url, retries=1) as saas:
                assert_no_token(saas)
                try:
                    await saas.me()
                except SpecKittyError as exc:
                    caught.append(exc)

    asyncio.run(main())
    assert len(caught) == 2
    assert_no_token(*caught, *(exc.args for exc in caught), caplog.text)
    assert "[token]" in str(caught[0])


# --- bodies ------------------------------------------------------------------------------------------
def test_envelopes_go_to_the_batch_endpoint_gzip_compressed_with_the_protocol_header() -> None:
    recorder = Recorder()
    envelopes = ['{"event_id":"01A","at":"x"}', '{"event_id":"01B","note":"caf\\u00e9 ✓"}']

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await recorder.note(request)  # aiohttp's server undoes Content-Encoding: gzip
        return web.json_response({"results": [{"event_id": e["event_id"], "status": "success"}
                                              for e in json.loads(body)["events"]]})

    async def main() -> list[dict[str, Any]]:
        async with serving(handler) as url, client(url) as saas:
            return await saas.send_events(envelopes)

    assert [r["event_id"] for r in asyncio.run(main())] == ["01A", "01B"]
    (request,) = recorder.requests
    assert request["method"] == "POST" and request["path"] == "/api/v1/events/batch/"
    assert request["headers"]["Content-Encoding"] == "gzip"
    assert request["headers"]["X-Spec-Kitty-Sync-Protocol"] == "2.0"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["body"] == ('{"events":[' + ",".join(envelopes) + "]}").encode("utf-8")


def test_the_upload_body_on_the_wire_is_gzip() -> None:
    """Read below aiohttp's decoding: the bytes that travelled are a gzip stream of the joined envelopes."""
    wire: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        wire.append(await reader.readexactly(length))
        body = b'{"results": [{"event_id": "01A", "status": "success"}]}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    async def main() -> list[dict[str, Any]]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with client(f"http://127.0.0.1:{port}") as saas:
                return await saas.send_events(['{"event_id": "01A"}'])
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) == [{"event_id": "01A", "status": "success"}]
    assert gzip.decompress(wire[0]) == b'{"events":[{"event_id": "01A"}]}'


@pytest.mark.parametrize(("code", "kind"), [
    ("authorization_pending", DevicePending), ("slow_down", DeviceSlowDown),
    ("expired_token", DeviceCodeExpired), ("access_denied", DeviceAccessDenied), ("invalid_grant", DeviceFlowError),
])
def test_device_token_answers_are_typed(code: str, kind: type[DeviceFlowError]) -> None:
    recorder = Recorder()

    async def main() -> None:
        async with serving(scripted(recorder, [error(400, code)])) as url, client(url, token=None) as saas:
            await saas.device_token("dc-1")

    with pytest.raises(kind):
        asyncio.run(main())
    assert len(recorder.requests) == 1
    assert parse_qs(recorder.requests[0]["body"].decode()) == {
        "grant_type": ["urn:ietf:params:oauth:grant-type:device_code"], "device_code": ["dc-1"],
        "client_id": ["cli_native"]}
    assert recorder.requests[0]["path"] == "/oauth/token"


def test_binding_calls_and_a_missing_binding() -> None:
    recorder = Recorder()
    binding = {"binding_id": "b1", "project": "proj", "mission": "001-demo"}

    async def main() -> tuple[Any, ...]:
        answers = [ok(binding, 201), ok(binding), lambda: web.Response(status=204), error(404, "not_found")]
        async with serving(scripted(recorder, answers)) as url, client(url) as saas:
            return (await saas.put_binding("proj", "001-demo", {"repo_name": "r"}),
                    await saas.get_binding("proj", "001-demo"),
                    await saas.delete_binding("proj", "001-demo"),
                    await saas.get_binding("proj", "001-demo"))

    assert asyncio.run(main()) == (binding, binding, None, None)
    assert [r["method"] for r in recorder.requests] == ["PUT", "GET", "DELETE", "GET"]
    assert json.loads(recorder.requests[0]["body"]) == {"repo_name": "r"}


def test_tracker_sync_sends_cursor_and_lanes() -> None:
    recorder = Recorder()
    answer = {"cursor": 4, "pushed": 1, "changes": [{"wp_id": "WP02", "lane": "done", "seq": 4}]}

    async def main() -> dict[str, Any]:
        async with serving(scripted(recorder, [ok(answer)])) as url, client(url) as saas:
            return await saas.tracker_sync("proj", "001-demo", 3, {"WP01": {"lane": "done", "last_event_id": "01A"}})

    assert asyncio.run(main()) == answer
    assert json.loads(recorder.requests[0]["body"]) == {
        "cursor": 3, "lanes": {"WP01": {"lane": "done", "last_event_id": "01A"}}}


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
