"""Start a real dev SaaS in a subprocess and poke at it: the handle tests and the demo share.

Imported by the pytest plugin in every test run, so it is stdlib only and cheap: no aiohttp, no
asyncio, and even urllib.request (which drags in socket, ssl and email) waits for the first request.

The server is a separate process rather than a thread so tests exercise the same `serve` an operator
runs, signals and all, and so `kill()` can simulate a crash.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
_LISTENING = re.compile(r"^spec-kitty dev SaaS listening on (http://(\S+):(\d+))$")


class DevSaasError(RuntimeError):
    """The dev SaaS did not start, or an admin call got an unexpected answer."""


class DevSaasHTTPError(DevSaasError):
    """An admin helper got a status it did not expect; `status` and `body` say what came back."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body}")
        self.status = status
        self.body = body


def _q(segment: str) -> str:
    return quote(segment, safe="")


class _Child:
    """One server process and the thread draining its stdout; ended the same way by every path."""

    def __init__(self, proc: subprocess.Popen[str], reader: threading.Thread) -> None:
        self.proc = proc
        self.reader = reader

    def end(self, sig: signal.Signals) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # The reader sees EOF once the process is gone; close the pipe only after it let go of it.
        self.reader.join(timeout=STOP_TIMEOUT)
        if self.proc.stdout is not None and not self.reader.is_alive():
            self.proc.stdout.close()
        return self.proc.returncode


def _reap(children: list[_Child], workdir: Path) -> None:
    """Finalizer: end a server still running and remove the handle's work dir.

    Runs on `close()`, when the handle is garbage collected, or at interpreter exit, so a caller that
    only ever calls `stop()` (or drops the handle) leaks neither a process nor temp files.
    """
    while children:
        children.pop().end(signal.SIGTERM)
    shutil.rmtree(workdir, ignore_errors=True)


class DevSaas:
    """A running dev SaaS; use `start_dev_saas` to get one.

    `stop()`/`kill()` end the process but keep the database, so `restart()` can bring the same state
    back on the same port. `close()` (and leaving the `with` block) also removes the handle's work dir:
    the server's stderr log, and the database unless one was passed in.
    """

    def __init__(
        self, db: Path | None, port: int, auto_approve: bool, device_expiry: int | None, env: dict[str, str] | None
    ) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="spec-kitty-dev-saas-"))
        self.db = Path(db) if db is not None else self._workdir / "dev-saas.sqlite3"
        self.port = port
        self.url = ""
        self._auto_approve = auto_approve
        self._device_expiry = device_expiry
        self._env = env
        self.extra_args: list[str] = []  # more `serve` options, e.g. ["--token-ttl", "30"]
        self._stderr_path = self._workdir / "server.stderr"
        self._children: list[_Child] = []  # at most one; shared with the finalizer, which must not hold self
        self._opener: Any = None
        self._finalizer = weakref.finalize(self, _reap, self._children, self._workdir)

    # -- process lifecycle ------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        if not self._children:
            raise DevSaasError("the dev SaaS is not running")
        return self._children[0].proc.pid

    @property
    def running(self) -> bool:
        return bool(self._children) and self._children[0].proc.poll() is None

    @property
    def stderr(self) -> str:
        """What the current (or last) server process logged; handy in assertion messages."""
        return self._stderr_tail(limit=1_000_000)

    def _start(self) -> None:
        args = [sys.executable, "-m", "devsaas.cli", "serve", "--port", str(self.port)]
        args += ["--db", str(self.db)]
        if self._auto_approve:
            args.append("--auto-approve")
        if self._device_expiry is not None:
            args += ["--device-expiry", str(self._device_expiry)]
        args += self.extra_args
        env = {**os.environ, **(self._env or {})}
        # stderr goes to a file: a pipe nobody reads would eventually block the server on its logs.
        with open(self._stderr_path, "w") as stderr:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True
            )
        lines: queue.Queue[str | None] = queue.Queue()
        # One thread hands us the first line and then keeps draining stdout until EOF.
        reader = threading.Thread(target=self._drain, args=(proc, lines), daemon=True)
        reader.start()
        self._children.append(_Child(proc, reader))
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            first = None
            problem = f"did not announce its URL within {START_TIMEOUT:.0f}s"
        else:
            problem = "exited before announcing its URL" if first is None else f"printed {first!r} first"
        match = _LISTENING.match(first.rstrip("\n")) if first else None
        if match is None:
            self._end(signal.SIGKILL)
            raise DevSaasError(f"dev SaaS {problem}; stderr:\n{self._stderr_tail()}")
        self.url = match.group(1)
        self.port = int(match.group(3))

    @staticmethod
    def _drain(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        first = True
        for line in proc.stdout:
            if first:
                lines.put(line)
                first = False
        if first:
            lines.put(None)

    def _stderr_tail(self, limit: int = 4000) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")[-limit:]
        except OSError:
            return "(no stderr captured)"

    def _end(self, sig: signal.Signals) -> int | None:
        if not self._children:
            return None
        return self._children.pop().end(sig)

    def stop(self) -> int | None:
        """Clean shutdown (SIGTERM); returns the exit status (0 when the server stopped cleanly)."""
        return self._end(signal.SIGTERM)

    def kill(self) -> int | None:
        """Crash it (SIGKILL), like a power cut for the process; the database keeps acked writes."""
        return self._end(signal.SIGKILL)

    def restart(self) -> DevSaas:
        """Start again on the same port and database (stopping first if still running)."""
        self.stop()
        self._start()
        return self

    def close(self) -> None:
        """Stop the server (cleanly) and remove the work dir; safe to call twice."""
        self.stop()
        self._finalizer()

    def __enter__(self) -> DevSaas:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DevSaas {self.url or 'not started'} db={self.db}>"

    # -- HTTP -------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: object = None, *, token: str | None = None,
                form: dict[str, str] | None = None) -> tuple[int, Any]:
        """One request with an optional JSON ``body``, or ``form`` fields form-encoded as the ``/oauth/*``
        endpoints want them; returns (status, parsed JSON or text, or None if empty).

        Never raises on an HTTP error status: tests want to assert on 4xx answers.
        """
        import urllib.error
        import urllib.request

        if body is not None and form is not None:
            raise ValueError("a request carries a JSON body or form fields, not both")
        if self._opener is None:
            # Loopback must never go through an http_proxy from the environment.
            self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        if form is not None:
            data: bytes | None = urlencode(form).encode("ascii")
            content_type = "application/x-www-form-urlencoded"
        else:
            data = None if body is None else json.dumps(body).encode("utf-8")
            content_type = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with self._opener.open(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            with err:
                status, raw = err.code, err.read()
        if not raw:
            return status, None
        text = raw.decode("utf-8", errors="replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text  # e.g. the HTML verification page

    def _call(self, method: str, path: str, body: object = None, *, expect: int = 200) -> Any:
        status, answer = self.request(method, path, body)
        if status != expect:
            raise DevSaasHTTPError(method, path, status, json.dumps(answer))
        return answer

    def _admin_mission(self, project: str, mission: str) -> str:
        return f"/api/v1/admin/projects/{_q(project)}/missions/{_q(mission)}"

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/api/v1/health")

    def issue_token(self, login: str = "dev", expires_in: int = 3600) -> str:
        """A bearer token without the device flow; `expires_in <= 0` gives an already expired one."""
        body = {"login": login, "expires_in": expires_in}
        return self._call("POST", "/api/v1/admin/tokens", body, expect=201)["access_token"]

    def issue_session(self, login: str = "dev", expires_in: int = 3600) -> dict[str, Any]:
        """``access_token``, ``refresh_token`` and ``expires_at`` of a fresh grant, without the device flow."""
        body = {"login": login, "expires_in": expires_in}
        return self._call("POST", "/api/v1/admin/tokens", body, expect=201)

    def grant_project(self, project: str, login: str) -> None:
        """Admin: let ``login`` use ``project`` (its owner's data), like adding a collaborator."""
        self._call("POST", f"/api/v1/admin/projects/{_q(project)}/members", {"login": login}, expect=204)

    def revoke_token(self, token: str) -> None:
        self._call("POST", "/api/v1/admin/tokens/revoke", {"access_token": token}, expect=204)

    def approve(self, user_code: str, login: str = "dev") -> None:
        """What a human does on the verification page."""
        body = {"user_code": user_code, "login": login}
        self._call("POST", "/api/v1/admin/device/approve", body, expect=204)

    def set_issue_lane(self, project: str, mission: str, wp_id: str, lane: str) -> dict[str, Any]:
        """A change made on the tracker side (origin `remote`), which the next tracker sync pulls;
        ``project`` is the bound project's uuid, slug (its newest binding) or binding_ref."""
        path = f"{self._admin_mission(project, mission)}/issues/{_q(wp_id)}"
        return self._call("POST", path, {"lane": lane})

    def tracker_bindings(self, project: str) -> list[dict[str, Any]]:
        """A project's tracker bindings (by uuid, slug or binding_ref), newest first."""
        return self._call("GET", f"/api/v1/admin/projects/{_q(project)}/tracker-bindings")["bindings"]

    def add_tracker_resource(self, display_label: str) -> None:
        """Another resource of the built-in provider to bind (bind-resolve then offers several)."""
        self._call("POST", "/api/v1/admin/tracker/resources", {"display_label": display_label}, expect=201)

    def tracker_async(self, path: str, polls: int | None) -> None:
        """``push``/``pull``/``run`` answer 202 and their operation reports ``running`` for ``polls`` polls."""
        self._call("POST", "/api/v1/admin/tracker/async", {"path": path, "polls": polls})

    def tracker_requests(self) -> list[dict[str, Any]]:
        """Every ``/api/v1/tracker/`` request's shape: method, path, query and body keys, team, key present."""
        return self._call("GET", "/api/v1/admin/tracker/requests")["requests"]

    def issues(self, project: str, mission: str) -> dict[str, Any]:
        return self._call("GET", f"{self._admin_mission(project, mission)}/issues")["issues"]

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/api/v1/admin/stats")

    # -- the Spec Kitty SaaS protocol's test surface ----------------------------------------------

    def envelopes(self, *, project_uuid: str | None = None, event_type: str | None = None,
                  aggregate_id: str | None = None) -> list[dict[str, Any]]:
        """Envelopes the batch endpoint stored, as received and in arrival order, narrowed by the filters."""
        filters = {"project_uuid": project_uuid, "event_type": event_type, "aggregate_id": aggregate_id}
        query = urlencode({key: value for key, value in filters.items() if value is not None})
        return self._call("GET", "/api/v1/admin/events" + (f"?{query}" if query else ""))["events"]

    def row_ids(self, mission: str | None = None, *, project_uuid: str | None = None) -> list[str]:
        """The mission log rows the host holds, as the ``causation_id`` of each stored ``WPStatusChanged``
        envelope (in arrival order), for one ``mission`` slug (of one project) or all."""
        return [str(e["causation_id"]) for e in self.envelopes(event_type="WPStatusChanged", project_uuid=project_uuid)
                if mission is None or e.get("payload", {}).get("mission_slug") == mission]

    def sessions(self) -> list[dict[str, Any]]:
        """Every session ever opened (``session_id``, ``login``, ``created_at``, ``revoked_at``), oldest first."""
        return self._call("GET", "/api/v1/admin/sessions")["sessions"]

    def dossier_bodies(self, project_uuid: str | None = None) -> list[dict[str, Any]]:
        """Artifact-body requests ``POST /api/dossier/push-content/`` stored, as received."""
        query = f"?{urlencode({'project_uuid': project_uuid})}" if project_uuid is not None else ""
        return self._call("GET", "/api/v1/admin/dossier" + query)["bodies"]

    def refuse_project(self, project_uuid: str, error_category: str = "project_not_admitted") -> None:
        """Every envelope of ``project_uuid`` answers ``rejected`` with ``error_category`` until ``admit_project``."""
        path = f"/api/v1/admin/projects/{_q(project_uuid)}/reject"
        self._call("POST", path, {"error_category": error_category}, expect=204)

    def admit_project(self, project_uuid: str) -> None:
        self._call("DELETE", f"/api/v1/admin/projects/{_q(project_uuid)}/reject", expect=204)

    def arm_fault(self, status: int, count: int = 1, *, guidance: str | None = None) -> None:
        """The next ``count`` batch requests answer ``status`` (412 carries ``guidance``) and store nothing."""
        body: dict[str, Any] = {"status": status, "count": count}
        if guidance is not None:
            body["guidance"] = guidance
        self._call("POST", "/api/v1/admin/faults", body, expect=201)

    def clear_faults(self) -> None:
        self._call("DELETE", "/api/v1/admin/faults", expect=204)

    def approve_on_page(self, user_code: str, login: str = "dev", *, deny: bool = False) -> str:
        """What a person does in the browser: submit the verification page's form; returns the page shown."""
        import urllib.error
        import urllib.request

        form = urlencode({"user_code": user_code, "login": login, "action": "deny" if deny else "approve"})
        req = urllib.request.Request(self.url + "/device", data=form.encode("ascii"), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=30) as resp:
                return resp.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as err:
            with err:
                raise DevSaasHTTPError("POST", "/device", err.code, err.read().decode("utf-8", "replace")) from None


def start_dev_saas(
    *,
    db: Path | None = None,
    port: int = 0,
    auto_approve: bool = True,
    device_expiry: int | None = None,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> DevSaas:
    """Launch `python -m devsaas.cli serve` and wait for its URL.

    `env` is laid over `os.environ` for the server process. Raises `DevSaasError`, carrying the
    server's stderr, if no URL is announced within 10 s.

    Without `db` the database lives in the handle's work dir and is passed with `--db` explicitly, so
    `restart()` always knows which database to reopen; `close()` removes it.
    """
    saas = DevSaas(db, port, auto_approve, device_expiry, env)
    saas.extra_args = list(extra_args or [])
    try:
        saas._start()
    except BaseException:
        saas.close()
        raise
    return saas
